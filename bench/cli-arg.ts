// The benches' command-line reader: `--name value`, else the fallback (a string; the bench converts it).
export const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
