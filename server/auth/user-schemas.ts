import { z } from "zod";
import { STORABLE_TEXT_MESSAGE, storableText } from "../lib/unsafe-text.ts";
import { tokenRoles, userRoles } from "./roles.ts";

/** The shapes people and scripts send; forms and the JSON API validate with the same schemas. */
export const emailSchema = z.string().trim().toLowerCase().pipe(z.email("Enter a valid e-mail address."));
export const passwordSchema = z
  .string()
  .min(12, "Use at least 12 characters.")
  .max(256, "Use at most 256 characters.");

export const loginSchema = z.object({
  email: z.string().trim().toLowerCase().min(1, "Enter your e-mail address.").max(320).refine(storableText, STORABLE_TEXT_MESSAGE),
  password: z.string().min(1, "Enter your password.").max(256),
});

export const createUserSchema = z.object({
  email: emailSchema,
  name: z.string().trim().min(1, "Enter a name.").max(120).refine(storableText, STORABLE_TEXT_MESSAGE),
  role: z.enum(userRoles),
  password: passwordSchema,
});

export const updateUserSchema = z
  .object({
    role: z.enum(userRoles).optional(),
    active: z.boolean().optional(),
  })
  .refine((body) => body.role !== undefined || body.active !== undefined, "Change the role or the active flag.");

export const createTokenSchema = z.object({
  name: z.string().trim().min(1, "Name the token.").max(120).refine(storableText, STORABLE_TEXT_MESSAGE),
  role: z.enum(tokenRoles),
});

export const changePasswordSchema = z.object({
  currentPassword: z.string().min(1, "Enter your current password."),
  newPassword: passwordSchema,
});
