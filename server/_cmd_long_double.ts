// INCRBYFLOAT's arithmetic as Redis 7.0 on x86-64 does it: C's `long double` (x87 80-bit
// extended: 64-bit significand, exponents down to 2^-16445 with subnormals, up to 2^16384),
// parsed by glibc's strtold (decimal or hexadecimal, correctly rounded) and printed with
// "%.17Lf" (17 fraction digits, ties to even), trailing zeros cut. JavaScript has only 64-bit
// doubles and no npm library models this format, so it is done here with BigInt: every value is
// an exact sign * significand * 2^exponent, rounded to 64 significant bits after each step.

/** A finite extended-precision value: `(negative ? -1 : 1) * sig * 2^exp`, `sig < 2^64`. */
export interface LongDouble {
  negative: boolean;
  sig: bigint;
  exp: number;
}

const SIG_BITS = 64;
/** The exponent of the smallest subnormal's unit (2^-16445). */
const MIN_EXP = -16445;
/** Values at or above 2^16384 overflow to infinity. */
const MAX_BITS = 16384;
/** Redis's MAX_LONG_DOUBLE_CHARS: longer arguments are not floats. */
const MAX_CHARS = 5 * 1024;

function bitLength(n: bigint): number {
  return n === 0n ? 0 : n.toString(2).length;
}

/**
 * Rounds the exact value `num / den * 2^exp` (num, den > 0) to the format, ties to even.
 * Returns `undefined` on overflow (infinity).
 */
function roundExact(
  negative: boolean,
  num: bigint,
  den: bigint,
  exp: number,
): LongDouble | undefined {
  // Scale so the integer quotient has SIG_BITS + 2 or + 3 bits; the remainder is a sticky bit.
  const shift = SIG_BITS + 2 - (bitLength(num) - bitLength(den));
  const n = shift >= 0 ? num << BigInt(shift) : num;
  const d = shift >= 0 ? den : den << BigInt(-shift);
  let e = exp - shift;
  const q = n / d;
  const inexact = n % d !== 0n;
  let drop = bitLength(q) - SIG_BITS;
  // Subnormals: the unit may not go below 2^MIN_EXP.
  if (e + drop < MIN_EXP) drop = MIN_EXP - e;
  const kept = q >> BigInt(drop);
  const rest = q - (kept << BigInt(drop));
  const half = 1n << BigInt(drop - 1);
  const up = rest > half || (rest === half && (inexact || (kept & 1n) === 1n));
  let sig = up ? kept + 1n : kept;
  e += drop;
  if (bitLength(sig) > SIG_BITS) {
    sig >>= 1n;
    e += 1;
  }
  if (sig !== 0n && bitLength(sig) + e > MAX_BITS) return undefined;
  return { negative, sig, exp: e };
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const HEX = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?\d+))?$/;
const INFINITY = /^[+-]?(?:inf|infinity)$/i;

/** Exponents beyond this make any argument of at most 5 KiB 0 or infinite: they are clamped. */
const EXP_LIMIT = 40_000;

function clampExp(text: string | undefined): number {
  if (text === undefined) return 0;
  return Math.max(-EXP_LIMIT, Math.min(EXP_LIMIT, Number(text)));
}

/**
 * Redis's string2ld: the whole argument (no leading space, at most 5 KiB) as strtold reads it.
 * Returns `"inf"`/`"-inf"` for infinities, and `undefined` for anything Redis refuses: not a
 * number, NaN, or a finite number that overflows to infinity or underflows to zero.
 */
export function parseLongDouble(text: string): LongDouble | "inf" | "-inf" | undefined {
  if (text.length === 0 || text.length >= MAX_CHARS) return undefined;
  if (INFINITY.test(text)) return text[0] === "-" ? "-inf" : "inf";
  let negative: boolean;
  let digits: string;
  let exp: number;
  let base: bigint;
  const hex = HEX.exec(text);
  const dec = hex === null ? DECIMAL.exec(text) : null;
  if (hex !== null) {
    const [, sign, int, frac = "", e] = hex;
    if (int.length + frac.length === 0) return undefined;
    negative = sign === "-";
    digits = int + frac;
    base = 16n;
    exp = clampExp(e) - 4 * frac.length;
  } else if (dec !== null) {
    const [, sign, int, frac = "", e] = dec;
    if (int.length + frac.length === 0) return undefined;
    negative = sign === "-";
    digits = int + frac;
    base = 10n;
    exp = clampExp(e) - frac.length;
  } else return undefined;
  const mantissa = BigInt((base === 16n ? "0x" : "") + (digits === "" ? "0" : digits));
  if (mantissa === 0n) return { negative, sig: 0n, exp: 0 };
  let result: LongDouble | undefined;
  if (base === 16n) result = roundExact(negative, mantissa, 1n, exp);
  else if (exp >= 0) result = roundExact(negative, mantissa * 10n ** BigInt(exp), 1n, 0);
  else result = roundExact(negative, mantissa, 10n ** BigInt(-exp), 0);
  // Overflow, or a nonzero value that rounds to zero: ERANGE.
  if (result === undefined || result.sig === 0n) return undefined;
  return result;
}

/** `a + b`, rounded; `undefined` when the sum overflows. */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | undefined {
  const exp = Math.min(a.exp, b.exp);
  const va = (a.negative ? -a.sig : a.sig) << BigInt(a.exp - exp);
  const vb = (b.negative ? -b.sig : b.sig) << BigInt(b.exp - exp);
  const sum = va + vb;
  // An exact zero sum is +0 (round to nearest), -0 only when both are -0.
  if (sum === 0n) return { negative: a.negative && b.negative, sig: 0n, exp: 0 };
  const negative = sum < 0n;
  return roundExact(negative, negative ? -sum : sum, 1n, exp);
}

/** Redis's ld2string(LD_STR_HUMAN): "%.17Lf" without trailing zeros (and "-0" as "0"). */
export function formatLongDouble(v: LongDouble): string {
  const FRACTION = 17;
  const scale = 10n ** BigInt(FRACTION);
  let digits: bigint;
  if (v.exp >= 0) digits = (v.sig << BigInt(v.exp)) * scale;
  else {
    const num = v.sig * scale;
    const den = 1n << BigInt(-v.exp);
    digits = num / den;
    const rest = (num - digits * den) * 2n;
    if (rest > den || (rest === den && (digits & 1n) === 1n)) digits += 1n;
  }
  const text = digits.toString().padStart(FRACTION + 1, "0");
  const int = text.slice(0, -FRACTION);
  const frac = text.slice(-FRACTION).replace(/0+$/, "");
  const out = (v.negative ? "-" : "") + int + (frac === "" ? "" : "." + frac);
  return out === "-0" ? "0" : out;
}
