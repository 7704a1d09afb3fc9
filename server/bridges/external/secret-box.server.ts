/**
 * Encryption at rest for external endpoints' API keys (decision 0014): AES-256-GCM with a
 * random 96-bit IV per value and the row's owner as additional data, so a ciphertext copied to
 * another project's row does not decrypt. The stored form is one text column:
 *   v1.<key id>.<iv base64url>.<tag base64url>.<ciphertext base64url>
 * The key id (first 8 hex characters of SHA-256 of the key) makes "encrypted with another key"
 * a clear message instead of a bare authentication failure.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { AppError } from "../../lib/app-error.ts";

export type SecretBox = {
  keyId: string;
  encrypt: (plaintext: string, context: string) => string;
  decrypt: (stored: string, context: string) => string;
};

const VERSION = "v1";

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error("The secret key must be 32 bytes.");
  const keyId = createHash("sha256").update(key).digest("hex").slice(0, 8);
  return {
    keyId,
    encrypt(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(Buffer.from(context, "utf8"));
      const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return [VERSION, keyId, iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), ciphertext.toString("base64url")].join(".");
    },
    decrypt(stored, context) {
      const parts = stored.split(".");
      if (parts.length !== 5 || parts[0] !== VERSION) throw new AppError("internal", "A stored API key is not in a format this server reads.");
      const [, storedKeyId, iv, tag, ciphertext] = parts as [string, string, string, string, string];
      if (storedKeyId !== keyId) {
        throw new AppError("validation_failed", `This API key was encrypted with another server key (id ${storedKeyId}; this server's is ${keyId}). Set the same TANDEM_SECRET_KEY on every server, or enter the API key again.`);
      }
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
        decipher.setAAD(Buffer.from(context, "utf8"));
        decipher.setAuthTag(Buffer.from(tag, "base64url"));
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, "base64url")), decipher.final()]).toString("utf8");
      } catch {
        throw new AppError("validation_failed", "A stored API key failed its integrity check (altered or moved to another row). Enter the API key again.");
      }
    },
  };
}

/** 64 hex characters or base64 of 32 bytes (the config schema has already checked the length). */
export function parseSecretKey(value: string): Buffer {
  return /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, "hex") : Buffer.from(value, "base64");
}

/**
 * The configured key, or the one generated under the data directory on first use (0600, written
 * atomically so two processes starting together cannot each use a different key).
 */
export function loadSecretKey(config: { TANDEM_SECRET_KEY?: string | undefined; TANDEM_DATA_DIR: string }): Buffer {
  if (config.TANDEM_SECRET_KEY) return parseSecretKey(config.TANDEM_SECRET_KEY);
  const file = path.join(config.TANDEM_DATA_DIR, "secret.key");
  fs.mkdirSync(config.TANDEM_DATA_DIR, { recursive: true });
  if (!fs.existsSync(file)) {
    // Written whole under a temporary name, then linked into place: link fails if another process won.
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
    fs.writeFileSync(temporary, randomBytes(32).toString("hex") + "\n", { mode: 0o600 });
    try {
      fs.linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    } finally {
      fs.rmSync(temporary, { force: true });
    }
  }
  const text = fs.readFileSync(file, "utf8").trim();
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new Error(`${file} does not hold a 64-character hex key.`);
  return Buffer.from(text, "hex");
}

/** What an API response may show of a key: that there is one, and its last four characters. */
export function apiKeyHint(apiKey: string): string {
  return apiKey.length >= 12 ? `…${apiKey.slice(-4)}` : "…";
}
