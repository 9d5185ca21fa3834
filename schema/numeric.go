package schema

import (
	"math/big"
)

// Numeric is an exact decimal number in its normalised text form: an
// optional '-', the integer digits without leading zeros ("0" when none),
// and, when the fraction is not zero, '.' and its digits without trailing
// zeros. The converter produces it for DECIMAL and BIGINT UNSIGNED columns
// mapped to NUMERIC: Spanner takes NUMERIC values as decimal strings, so a
// value goes from MySQL's text to the commit without ever being parsed into
// a big.Rat (which cost an eighth of the extraction's CPU). Read back from
// Spanner, a NUMERIC is a *big.Rat; AppendCanonical renders both alike.
type Numeric string

// EncodeSpanner gives the Spanner client the decimal string it sends for a
// NUMERIC column.
func (n Numeric) EncodeSpanner() (any, error) { return string(n), nil }

// Rat returns n as a rational (for comparisons such as version ordering).
func (n Numeric) Rat() *big.Rat {
	r, _ := new(big.Rat).SetString(string(n))
	return r
}

// ParseNumeric validates MySQL's decimal text (digits, an optional sign and
// point) and checks it fits Spanner NUMERIC (29 integer digits, 9
// significant fraction digits): never rounded, never parsed into a big.Rat.
func ParseNumeric(b []byte) (Numeric, *BadValue) { return parseNumeric(b, nil) }

// parseNumeric is ParseNumeric with the canonical text taken from slab.
func parseNumeric(b []byte, slab *Slab) (Numeric, *BadValue) {
	s := b
	neg := false
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac := s, []byte(nil)
	if i := indexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i+1:]
	}
	if len(intPart) == 0 && len(frac) == 0 {
		return "", bad("DECIMAL is not a number")
	}
	for _, c := range intPart {
		if c < '0' || c > '9' {
			return "", bad("DECIMAL is not a number")
		}
	}
	for _, c := range frac {
		if c < '0' || c > '9' {
			return "", bad("DECIMAL is not a number")
		}
	}
	for len(intPart) > 0 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	for len(frac) > 0 && frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	switch {
	case len(intPart) > NumericIntDigits:
		return "", bad("DECIMAL has %d integer digits; Spanner NUMERIC holds 29", len(intPart))
	case len(frac) > NumericScaleDigits:
		return "", bad("DECIMAL has %d significant fraction digits; Spanner NUMERIC holds 9 and would round it", len(frac))
	}
	// At most 29 + 9 digits, a sign and a point: rendered on the stack.
	var buf [NumericIntDigits + NumericScaleDigits + 3]byte
	out := buf[:0]
	if neg && (len(intPart) > 0 || len(frac) > 0) {
		out = append(out, '-')
	}
	if len(intPart) == 0 {
		out = append(out, '0')
	} else {
		out = append(out, intPart...)
	}
	if len(frac) > 0 {
		out = append(out, '.')
		out = append(out, frac...)
	}
	return Numeric(slab.String(out)), nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

var billion = big.NewInt(1_000_000_000)

// canonicalRat renders a rational like Numeric when it has at most 9
// fraction digits (every value Spanner's NUMERIC holds), else exactly as a
// fraction with a marker no decimal can carry.
func canonicalRat(r *big.Rat) string {
	if new(big.Int).Mod(billion, r.Denom()).Sign() != 0 {
		return "/" + r.RatString()
	}
	n, _ := ParseNumeric([]byte(r.FloatString(NumericScaleDigits)))
	return string(n)
}
