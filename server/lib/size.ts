/** "100kb", "2mb", "2gb" (as the size settings are written) → bytes. */
export function parseSize(size: string): number {
  const match = /^(\d+)(b|kb|mb|gb)$/i.exec(size);
  if (!match) throw new Error(`bad size ${size}`);
  const unit = { b: 1, kb: 1024, mb: 1024 * 1024, gb: 1024 ** 3 }[match[2]!.toLowerCase() as "b" | "kb" | "mb" | "gb"];
  return Number(match[1]) * unit;
}
