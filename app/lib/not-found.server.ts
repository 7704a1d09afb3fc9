import { AppError } from "../../server/lib/app-error.ts";

/** Runs a lookup for a page; our "not found" becomes the 404 page with this message. */
export async function or404<T>(lookup: Promise<T>, message: string): Promise<T> {
  try {
    return await lookup;
  } catch (error) {
    if (error instanceof AppError && error.code === "not_found") throw new Response(message, { status: 404, statusText: "Not Found" });
    throw error;
  }
}
