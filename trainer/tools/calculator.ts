// The built-in calculator: exact arithmetic on a small grammar, parsed here and never handed to
// `eval` or `Function` (decision 0019). A policy calls it as
//   {"name":"calculator","arguments":{"expression":"37*4"}}
// and reads back the result as text ("148") or a clear error ("error: division by zero").
//
// Grammar (usual precedence; ^ binds tighter than a leading minus, so -2^2 = -4, and is right-associative):
//   expression := term (("+" | "-") term)*
//   term       := unary (("*" | "/" | "%") unary)*          "%" is the remainder (sign of the dividend)
//   unary      := ("+" | "-") unary | power
//   power      := primary (("^" | "**") unary)?
//   primary    := number | "(" expression ")" | ("sqrt" | "abs") "(" expression ")"
//   number     := 12 | 12.5 | .5 | 1e3 | 1,234,567   (commas only as thousands separators)
// ×, ·, ÷ and the Unicode minus read as *, *, / and -.
//
// Numbers are exact fractions of BigInts, so 0.1 + 0.2 is exactly 3/10 and integers past 2^53 stay
// exact. A result prints exactly when it can (an integer, or a decimal that terminates within 40
// digits); otherwise rounded to 12 significant digits (1/3 → 0.333333333333). Square roots that are
// not exact, and anything computed from them, are rounded the same way. Every input is bounded
// (length, nesting, size of numbers, exponents) so one call finishes in microseconds.

/** Why an expression has no value; the tool result is `error: <message>`. */
export class CalculatorError extends Error {}

export const CALCULATOR_LIMITS = {
  /** Characters of the expression. */
  maxLength: 200,
  /** Nested parentheses, function calls and unary signs. */
  maxDepth: 32,
  /** Bits of any numerator or denominator along the way (≈ 300 decimal digits). */
  maxBits: 1000,
  /** Digits of an exact integer result. */
  maxResultDigits: 100,
} as const;

const SIGNIFICANT = 12;
const MAX_EXACT_DECIMALS = 40;

/** n/d in lowest terms, d > 0. `exact` is false once a rounded square root went in. */
interface Fraction {
  n: bigint;
  d: bigint;
  exact: boolean;
}

const abs = (x: bigint): bigint => (x < 0n ? -x : x);
function gcd(a: bigint, b: bigint): bigint {
  a = abs(a);
  b = abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

function fraction(n: bigint, d: bigint, exact: boolean): Fraction {
  if (d === 0n) throw new CalculatorError("division by zero");
  if (d < 0n) [n, d] = [-n, -d];
  const g = gcd(n, d) || 1n;
  const f = { n: n / g, d: d / g, exact };
  if (bits(f.n) > CALCULATOR_LIMITS.maxBits || bits(f.d) > CALCULATOR_LIMITS.maxBits) throw new CalculatorError("number too large");
  return f;
}

const bits = (x: bigint): number => abs(x).toString(2).length;
const int = (n: bigint): Fraction => ({ n, d: 1n, exact: true });

const add = (a: Fraction, b: Fraction): Fraction => fraction(a.n * b.d + b.n * a.d, a.d * b.d, a.exact && b.exact);
const sub = (a: Fraction, b: Fraction): Fraction => fraction(a.n * b.d - b.n * a.d, a.d * b.d, a.exact && b.exact);
const mul = (a: Fraction, b: Fraction): Fraction => fraction(a.n * b.n, a.d * b.d, a.exact && b.exact);
const div = (a: Fraction, b: Fraction): Fraction => fraction(a.n * b.d, a.d * b.n, a.exact && b.exact);

/** a − b·trunc(a/b): the sign follows the dividend, as in JavaScript and C. */
function remainder(a: Fraction, b: Fraction): Fraction {
  if (b.n === 0n) throw new CalculatorError("division by zero");
  const q = (a.n * b.d) / (a.d * b.n); // BigInt division truncates toward zero
  return sub(a, mul(b, int(q)));
}

function power(base: Fraction, exponent: Fraction): Fraction {
  if (exponent.d !== 1n) throw new CalculatorError("exponent must be a whole number");
  const e = exponent.n;
  if (e === 0n) return int(1n);
  if (base.d === 1n && abs(base.n) <= 1n) {
    // 0, 1 and −1 stay small whatever the exponent
    if (base.n === 0n) {
      if (e < 0n) throw new CalculatorError("division by zero");
      return int(0n);
    }
    return int(base.n === -1n && e % 2n !== 0n ? -1n : 1n);
  }
  // refuse before computing: the result has about |e|·bits(base) bits
  const size = Math.max(bits(base.n), bits(base.d));
  if (abs(e) > BigInt(CALCULATOR_LIMITS.maxBits) || Number(abs(e)) * Math.max(size - 1, 0) > CALCULATOR_LIMITS.maxBits) throw new CalculatorError("number too large");
  if (e < 0n && base.n === 0n) throw new CalculatorError("division by zero");
  const k = abs(e);
  return e > 0n ? fraction(base.n ** k, base.d ** k, base.exact) : fraction(base.d ** k, base.n ** k, base.exact);
}

/** ⌊√x⌋ for x ≥ 0 (Newton's method on BigInts). */
function isqrt(x: bigint): bigint {
  if (x < 2n) return x;
  let r = 1n << BigInt(Math.ceil(bits(x) / 2));
  for (;;) {
    const next = (r + x / r) >> 1n;
    if (next >= r) return r;
    r = next;
  }
}

function squareRoot(x: Fraction): Fraction {
  if (x.n < 0n) throw new CalculatorError("square root of a negative number");
  const rn = isqrt(x.n);
  const rd = isqrt(x.d);
  if (rn * rn === x.n && rd * rd === x.d) return fraction(rn, rd, x.exact); // √(9/4) = 3/2 exactly
  // √(n/d) = √(n·d)/d, to 30 digits past the point: plenty for 12 significant digits
  const scale = 10n ** 30n;
  return fraction(isqrt(x.n * x.d * scale * scale), x.d * scale, false);
}

// ---- parsing: a recursive-descent parser over the characters, with one position cursor ----

const ALIASES: Record<string, string> = { "×": "*", "·": "*", "÷": "/", "−": "-" };

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly text: string) {}

  parse(): Fraction {
    const value = this.expression();
    this.skipSpaces();
    if (this.pos < this.text.length) throw this.unexpected();
    return value;
  }

  private expression(): Fraction {
    let value = this.term();
    for (;;) {
      if (this.eat("+")) value = add(value, this.term());
      else if (this.eat("-")) value = sub(value, this.term());
      else return value;
    }
  }

  private term(): Fraction {
    let value = this.unary();
    for (;;) {
      if (this.eat("*")) value = mul(value, this.unary());
      else if (this.eat("/")) value = div(value, this.unary());
      else if (this.eat("%")) value = remainder(value, this.unary());
      else return value;
    }
  }

  private unary(): Fraction {
    return this.nested(() => {
      if (this.eat("-")) {
        const v = this.unary();
        return { ...v, n: -v.n };
      }
      if (this.eat("+")) return this.unary();
      return this.power();
    });
  }

  private power(): Fraction {
    const base = this.primary();
    if (this.eat("**") || this.eat("^")) return power(base, this.unary());
    return base;
  }

  private primary(): Fraction {
    this.skipSpaces();
    const ch = this.text[this.pos];
    if (ch === undefined) throw new CalculatorError("unexpected end of expression");
    if (ch === "(") {
      this.pos++;
      const value = this.nested(() => this.expression());
      if (!this.eat(")")) throw this.pos >= this.text.length ? new CalculatorError("missing ')'") : this.unexpected();
      return value;
    }
    if (/[0-9.]/.test(ch)) return this.number();
    const name = /^[A-Za-z_]+/.exec(this.text.slice(this.pos))?.[0];
    if (name) {
      const fn = name.toLowerCase() === "sqrt" ? squareRoot : name.toLowerCase() === "abs" ? (x: Fraction) => ({ ...x, n: abs(x.n) }) : null;
      if (!fn) throw new CalculatorError(`unknown name '${name.slice(0, 20)}' (numbers, + - * / % ^, parentheses, sqrt and abs only)`);
      this.pos += name.length;
      if (!this.eat("(")) throw new CalculatorError(`${name} needs parentheses: ${name}(…)`);
      const arg = this.nested(() => this.expression());
      if (!this.eat(")")) throw this.pos >= this.text.length ? new CalculatorError("missing ')'") : this.unexpected();
      return fn(arg);
    }
    throw this.unexpected();
  }

  /** 12 · 12.5 · .5 · 1e3 · 2.5E-2 · 1,234,567 */
  private number(): Fraction {
    const match = /^(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d*)?(?:[eE][+-]?\d+)?/.exec(this.text.slice(this.pos))?.[0] ?? "";
    if (!/\d/.test(match.replace(/[eE].*$/, ""))) throw this.unexpected();
    this.pos += match.length;
    const [mantissa = "", exponentText] = match.replace(/,/g, "").split(/[eE]/);
    const [whole = "", decimals = ""] = mantissa.split(".");
    const exponent = Number(exponentText ?? 0) - decimals.length;
    if (Math.abs(exponent) > 300) throw new CalculatorError("number too large");
    const digits = BigInt(whole + decimals || "0");
    return exponent >= 0 ? fraction(digits * 10n ** BigInt(exponent), 1n, true) : fraction(digits, 10n ** BigInt(-exponent), true);
  }

  private nested(parse: () => Fraction): Fraction {
    if (++this.depth > CALCULATOR_LIMITS.maxDepth) throw new CalculatorError(`nested deeper than ${CALCULATOR_LIMITS.maxDepth} levels`);
    try {
      return parse();
    } finally {
      this.depth--;
    }
  }

  private skipSpaces(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos] ?? "")) this.pos++;
  }

  private peek(token: string): boolean {
    this.skipSpaces();
    return this.text.startsWith(token, this.pos);
  }

  private eat(token: string): boolean {
    if (!this.peek(token)) return false;
    this.pos += token.length;
    return true;
  }

  private unexpected(): CalculatorError {
    const ch = this.text[this.pos];
    return ch === undefined
      ? new CalculatorError("unexpected end of expression")
      : new CalculatorError(`unexpected '${ch}' at position ${this.pos + 1}`);
  }
}

// ---- printing ----

/** Decimal digits of |n|/d rounded half away from zero to `significant` digits, as mantissa and exponent. */
function roundSignificant(n: bigint, d: bigint, significant: number): { digits: string; exponent: number } {
  const a = abs(n);
  // estimate the decimal exponent from the digit counts, then correct it by one either way
  let exponent = a.toString().length - d.toString().length;
  const scaled = (e: number): bigint => {
    const shift = significant - 1 - e;
    const num = shift >= 0 ? a * 10n ** BigInt(shift) : a;
    const den = shift >= 0 ? d : d * 10n ** BigInt(-shift);
    return (2n * num + den) / (2n * den); // round half up on magnitudes
  };
  let m = scaled(exponent);
  if (m < 10n ** BigInt(significant - 1)) m = scaled(--exponent);
  if (m >= 10n ** BigInt(significant)) m = scaled(++exponent);
  if (m >= 10n ** BigInt(significant)) {
    m /= 10n; // 9.99…95 rounded up to 10.0…0
    exponent++;
  }
  return { digits: m.toString(), exponent };
}

/** Places the point in a digit string: digits · 10^(exponent − len + 1). Trailing zeros after the point go. */
function placePoint(digits: string, exponent: number): string {
  const len = digits.length;
  let text: string;
  if (exponent >= len - 1) text = digits + "0".repeat(exponent - len + 1);
  else if (exponent >= 0) text = `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  else text = `0.${"0".repeat(-exponent - 1)}${digits}`;
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

export function formatFraction(f: Fraction): string {
  const sign = f.n < 0n ? "-" : "";
  if (f.n === 0n) return "0";
  if (f.exact && f.d === 1n) {
    const text = abs(f.n).toString();
    if (text.length > CALCULATOR_LIMITS.maxResultDigits) throw new CalculatorError(`result has more than ${CALCULATOR_LIMITS.maxResultDigits} digits`);
    return sign + text;
  }
  if (f.exact) {
    // a terminating decimal: d = 2^a·5^b, exactly max(a, b) digits after the point
    let rest = f.d;
    let twos = 0;
    let fives = 0;
    for (; rest % 2n === 0n; twos++) rest /= 2n;
    for (; rest % 5n === 0n; fives++) rest /= 5n;
    const places = Math.max(twos, fives);
    if (rest === 1n && places <= MAX_EXACT_DECIMALS) {
      const scaledDigits = ((abs(f.n) * 10n ** BigInt(places)) / f.d).toString().padStart(places + 1, "0");
      const whole = scaledDigits.slice(0, scaledDigits.length - places);
      if (whole.length <= CALCULATOR_LIMITS.maxResultDigits) return sign + placePoint(scaledDigits, whole.length - 1);
    }
  }
  const { digits, exponent } = roundSignificant(f.n, f.d, SIGNIFICANT);
  // scientific notation only where positional would be long or misleading (trailing made-up zeros)
  if (exponent >= SIGNIFICANT || exponent < -6) {
    const mantissa = placePoint(digits, 0);
    return `${sign}${mantissa}e${exponent >= 0 ? "+" : ""}${exponent}`;
  }
  return sign + placePoint(digits, exponent);
}

/** Evaluates an expression to its printed result; throws CalculatorError with a readable reason. */
export function evaluateExpression(expression: string): string {
  if (expression.length > CALCULATOR_LIMITS.maxLength) throw new CalculatorError(`expression longer than ${CALCULATOR_LIMITS.maxLength} characters`);
  const text = expression.replace(/[×·÷−]/g, (c) => ALIASES[c] ?? c).trim();
  if (text === "") throw new CalculatorError("empty expression");
  return formatFraction(new Parser(text).parse());
}
