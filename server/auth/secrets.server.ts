import { createHash, randomBytes } from "node:crypto";

/** A random secret for cookies and tokens, and the only form of it we store. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString("base64url");
}

export function sha256(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** A readable password for a generated first admin (about 120 bits). */
export function generatePassword(): string {
  return randomBytes(15).toString("base64url").replace(/[-_]/g, "x");
}
