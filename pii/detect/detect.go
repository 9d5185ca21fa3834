// Package detect owns recognising columns that hold personal or secret
// data: by the column's name, by its comment, and by a sample of its values.
//
// The one idea: flag only on specific evidence, because every flag blocks a
// backfill until someone decides. A name must contain a term from a fixed
// vocabulary (email, phone, ssn, password, date_of_birth, iban, ...) on a
// column of a type that can hold such data; a comment must name the kind of
// data; and a value detector fires only when at least half of the sampled
// values pass a validator that random data rarely passes (a Luhn check and
// an issuer prefix for card numbers, mod-97 for IBANs, the exact syntax of
// bcrypt or argon2 hashes, ...). Reasons say what was seen, never a value.
package detect

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
)

// Detectors.
const (
	Email        = "email"
	Phone        = "phone"
	Card         = "card-number"
	SSN          = "us-ssn"
	IBAN         = "iban"
	IP           = "ip-address"
	DOB          = "date-of-birth"
	PasswordHash = "password-hash"
	Secret       = "secret"
	PersonName   = "person-name"
	Address      = "postal-address"
	Personal     = "personal" // a comment that says the column is personal or sensitive
)

// Hit is one piece of evidence.
type Hit struct {
	Detector string `json:"detector"`
	Why      string `json:"why"`
}

// Input is what is known about one column.
type Input struct {
	Name     string
	DataType string // MySQL DATA_TYPE, lower case: varchar, date, bigint, ...
	Comment  string
	Samples  []string // non-NULL values as text (Sample)
}

// Column returns the evidence that a column holds personal or secret data,
// strongest first (values, then name, then comment); nil when none.
func Column(in Input) []Hit {
	var out []Hit
	out = append(out, Values(in.Name, in.DataType, in.Samples)...)
	out = append(out, Name(in.Name, in.DataType)...)
	out = append(out, Comment(in.Comment)...)
	return out
}

type class int

const (
	classOther class = iota
	classText
	classInt
	classDate
	classBinary
)

func typeClass(dt string) class {
	switch strings.ToLower(dt) {
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "json":
		return classText
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		return classBinary
	case "tinyint", "smallint", "mediumint", "int", "integer", "bigint", "decimal", "numeric":
		return classInt
	case "date", "datetime", "timestamp", "year":
		return classDate
	}
	return classOther
}

// Sampled reports whether sampling values of a column of this type can
// tell anything (text, binary, and BIGINT for card numbers).
func Sampled(dataType string) bool {
	c := typeClass(dataType)
	return c == classText || c == classBinary || strings.EqualFold(dataType, "bigint")
}

// tokens splits a column name into lower-case words: snake_case, kebab,
// camelCase and digits all separate words.
func tokens(name string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(name)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 && (unicode.IsLower(cur[len(cur)-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]))):
			flush()
			cur = append(cur, r)
		case unicode.IsDigit(r) && len(cur) > 0 && !unicode.IsDigit(cur[len(cur)-1]):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return out
}

// modifiers are words that make a name about a property of the data, not
// the data itself (email_verified, phone_count, token_expires_at).
var modifiers = map[string]bool{"verified": true, "confirmed": true, "sent": true, "count": true, "template": true,
	"status": true, "type": true, "enabled": true, "disabled": true, "flag": true, "opt": true, "optin": true,
	"optout": true, "subscribed": true, "bounced": true, "at": true, "on": true, "expires": true, "expiry": true,
	"expired": true, "length": true, "len": true, "format": true, "policy": true, "changed": true, "updated": true,
	"required": true, "is": true, "has": true, "allowed": true, "provider": true, "strength": true,
	"hint": true, "attempts": true, "limit": true, "version": true, "algorithm": true, "algo": true}

type nameRule struct {
	detector string
	match    func(toks []string, joined string) bool
	classes  []class // empty = any except boolean-like
	modified bool    // suppressed by a modifier word
}

func has(toks []string, words ...string) bool {
	for _, t := range toks {
		for _, w := range words {
			if t == w {
				return true
			}
		}
	}
	return false
}

func contains(joined string, parts ...string) bool {
	for _, p := range parts {
		if strings.Contains(joined, p) {
			return true
		}
	}
	return false
}

var nameRules = []nameRule{
	{Email, func(t []string, j string) bool { return contains(j, "email") || has(t, "mail") }, []class{classText, classBinary}, true},
	{Phone, func(t []string, j string) bool {
		return contains(j, "phone") || has(t, "tel", "mobile", "cell", "fax", "msisdn")
	}, []class{classText, classBinary, classInt}, true},
	{SSN, func(t []string, j string) bool {
		return has(t, "ssn", "passport") || contains(j, "socialsecurity", "nationalid", "nationalidentity", "taxpayerid", "taxid", "nationalinsurance")
	}, nil, true},
	{IBAN, func(t []string, j string) bool { return has(t, "iban") || contains(j, "bankaccount") }, []class{classText, classBinary}, true},
	{Card, func(t []string, j string) bool {
		return contains(j, "creditcard", "cardnumber", "cardnum", "cardno", "ccnumber", "ccnum", "debitcard") ||
			has(t, "pan", "cvv", "cvc", "cvv2") || (has(t, "cc") && has(t, "number", "num", "no"))
	}, nil, true},
	{IP, func(t []string, j string) bool {
		return has(t, "ip", "ipv4", "ipv6") || contains(j, "ipaddr", "remoteaddr", "clientaddr")
	}, []class{classText, classBinary, classInt}, true},
	{DOB, func(t []string, j string) bool {
		return has(t, "dob", "born", "birthday", "birthdate") || contains(j, "dateofbirth", "birthdate", "birthday", "birthyear", "birthdt")
	}, nil, false},
	{Secret, func(t []string, j string) bool {
		if contains(j, "password", "passwd", "passphrase", "passcode", "secret", "privatekey", "apikey", "accesskey") ||
			has(t, "pwd", "salt", "otp", "totp", "pin") {
			return true
		}
		// ..._token and token, but not token_count: the last word.
		return len(t) > 0 && t[len(t)-1] == "token"
	}, []class{classText, classBinary, classInt}, true},
	{PersonName, func(t []string, j string) bool {
		return contains(j, "firstname", "lastname", "surname", "givenname", "familyname", "fullname", "middlename", "maidenname", "forename") ||
			(has(t, "first", "last", "full", "given", "family", "middle", "maiden") && has(t, "name"))
	}, []class{classText}, true},
	{Address, func(t []string, j string) bool {
		if contains(j, "street", "postcode", "postalcode", "zipcode", "addressline") || has(t, "zip") {
			return true
		}
		return has(t, "address", "address1", "address2", "addr") &&
			!has(t, "ip", "email", "mail", "mac", "remote", "client", "wallet", "contract", "server", "host", "url", "web", "memory", "bitcoin", "eth")
	}, []class{classText}, true},
}

// Name returns the evidence in a column's name and type.
func Name(name, dataType string) []Hit {
	toks := tokens(name)
	joined := strings.Join(toks, "")
	cl := typeClass(dataType)
	modified := false
	for _, t := range toks {
		modified = modified || modifiers[t]
	}
	// customer_email_id, phone_id: a reference to another table's row.
	ref := len(toks) > 1 && toks[len(toks)-1] == "id"
	var out []Hit
	for _, r := range nameRules {
		if !r.match(toks, joined) || (r.modified && modified) || (ref && r.detector != SSN) {
			continue
		}
		if len(r.classes) > 0 {
			ok := false
			for _, c := range r.classes {
				ok = ok || c == cl
			}
			if !ok {
				continue
			}
		}
		out = append(out, Hit{r.detector, fmt.Sprintf("column name %q", name)})
	}
	return out
}

type commentRule struct {
	detector string
	re       *regexp.Regexp
	what     string
}

var commentRules = []commentRule{
	{Email, regexp.MustCompile(`\be-?mails?\b|email address`), "e-mail"},
	{Phone, regexp.MustCompile(`\b(tele)?phone|mobile (number|no)|\bfax\b`), "phone numbers"},
	{Card, regexp.MustCompile(`credit card|debit card|card number|\bpan\b|\bcvv\b`), "card numbers"},
	{SSN, regexp.MustCompile(`\bssn\b|social security|national id|passport`), "national identifiers"},
	{IBAN, regexp.MustCompile(`\biban\b|bank account`), "bank accounts"},
	{IP, regexp.MustCompile(`\bip address|\bip\b`), "IP addresses"},
	{DOB, regexp.MustCompile(`date of birth|birth ?date|birthday|\bdob\b`), "dates of birth"},
	{Secret, regexp.MustCompile(`password|passwd|\bsecret|api key|private key|access token|\bcredential`), "secrets"},
	{PersonName, regexp.MustCompile(`(first|last|full|given|family|maiden) name|surname`), "person names"},
	{Address, regexp.MustCompile(`street|postal address|post ?code|zip ?code|(home|billing|shipping|mailing) address`), "postal addresses"},
	{Personal, regexp.MustCompile(`\bpii\b|personal(ly identifiable)? (data|information|info)|\bgdpr\b|\bsensitive\b|\bconfidential\b|\bhipaa\b`), "personal or sensitive data"},
}

var negated = regexp.MustCompile(`\b(no|not|non)[- ](pii|personal|sensitive|confidential|gdpr)`)

// Comment returns the evidence in a column comment.
func Comment(comment string) []Hit {
	c := strings.ToLower(comment)
	if strings.TrimSpace(c) == "" {
		return nil
	}
	var out []Hit
	for _, r := range commentRules {
		if r.detector == Personal && negated.MatchString(c) {
			continue
		}
		if r.re.MatchString(c) {
			out = append(out, Hit{r.detector, "column comment mentions " + r.what})
		}
	}
	return out
}

type valueRule struct {
	detector string
	what     string
	match    func(s string) bool
	classes  []class
}

var (
	emailRe  = regexp.MustCompile(`^[A-Za-z0-9.!#$%&'*+/=?^_{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}$`)
	inTextRe = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,63}\b`)
	ssnRe    = regexp.MustCompile(`^(\d{3})-(\d{2})-(\d{4})$`)
	ibanRe   = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)
	dateRe   = regexp.MustCompile(`^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$`)
	decRe    = regexp.MustCompile(`^\d+([.,]\d+)?$`)
	zipRe    = regexp.MustCompile(`^\d{5}-\d{4}$`)
	hashRes  = []*regexp.Regexp{
		regexp.MustCompile(`^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$`),                              // bcrypt
		regexp.MustCompile(`^\$argon2(id|i|d)\$(v=\d+\$)?m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+`),      // argon2
		regexp.MustCompile(`^\$(scrypt|7)\$`),                                                     // scrypt
		regexp.MustCompile(`^\$[156]\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{22,86}$`), // md5/sha-crypt
		regexp.MustCompile(`^(pbkdf2_sha(1|256|512)|bcrypt_sha256|argon2|scrypt)\$`),              // Django
		regexp.MustCompile(`^\$pbkdf2(-sha(1|256|512))?\$`),                                       // passlib
		regexp.MustCompile(`^\{(SSHA|SHA|SSHA256|SSHA512|CRYPT|PBKDF2)\}`),                        // LDAP
	}
	hexHashRe = regexp.MustCompile(`^([0-9a-f]{40}|[0-9A-F]{40}|[0-9a-f]{64}|[0-9A-F]{64}|[0-9a-f]{128}|[0-9A-F]{128})$`)
	secretRes = []*regexp.Regexp{
		regexp.MustCompile(`^eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*$`), // JWT
		regexp.MustCompile(`-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----`),                     // PEM
		regexp.MustCompile(`^(AKIA|ASIA)[0-9A-Z]{16}$`),                                    // AWS access key id
		regexp.MustCompile(`^(sk|rk)_(live|test)_[0-9A-Za-z]{16,}$`),                       // Stripe
		regexp.MustCompile(`^gh[pousr]_[A-Za-z0-9]{36,}$`),                                 // GitHub
		regexp.MustCompile(`^xox[abprs]-[0-9A-Za-z-]{10,}$`),                               // Slack
	}
)

var textLike = []class{classText, classBinary}

var valueRules = []valueRule{
	{Email, "e-mail addresses", func(s string) bool { return emailRe.MatchString(s) }, textLike},
	{Card, "card numbers passing the Luhn check", isCard, []class{classText, classBinary, classInt}},
	{SSN, "US social security numbers", isSSN, textLike},
	{IBAN, "IBANs passing the mod-97 check", isIBAN, textLike},
	{IP, "IP addresses", isIP, textLike},
	{Phone, "phone numbers", isPhone, textLike},
	{PasswordHash, "password hashes (bcrypt, argon2, scrypt, crypt, PBKDF2)", isPasswordHash, textLike},
	{Secret, "secrets (JWTs, private keys, API keys)", isSecret, textLike},
}

// hexHashNames are names of columns whose hex digests are content hashes,
// not password hashes.
var hexHashNames = []string{"checksum", "digest", "etag", "commit", "revision", "rev", "sha", "sha1", "sha256", "sha512", "md5",
	"fingerprint", "crc", "content", "file", "blob", "object", "tree", "git", "integrity", "signature"}

// Values returns the evidence in sampled values: a detector fires when at
// least half of the non-empty samples pass it. E-mail addresses inside free
// text fire at two samples and at least one in twenty.
func Values(name, dataType string, samples []string) []Hit {
	cl := typeClass(dataType)
	var vals []string
	for _, s := range samples {
		if s = strings.TrimSpace(s); s != "" {
			vals = append(vals, s)
		}
	}
	n := len(vals)
	if n == 0 {
		return nil
	}
	var out []Hit
	for _, r := range valueRules {
		ok := false
		for _, c := range r.classes {
			ok = ok || c == cl
		}
		if !ok {
			continue
		}
		m := 0
		for _, s := range vals {
			if r.match(s) {
				m++
			}
		}
		if m > 0 && 2*m >= n {
			out = append(out, Hit{r.detector, fmt.Sprintf("%d of %d sampled values are %s", m, n, r.what)})
		}
	}
	if cl == classText || cl == classBinary {
		toks := tokens(name)
		if !has(toks, hexHashNames...) {
			m := 0
			for _, s := range vals {
				if hexHashRe.MatchString(s) {
					m++
				}
			}
			if m > 0 && 2*m >= n {
				out = append(out, Hit{PasswordHash, fmt.Sprintf("%d of %d sampled values are SHA-1/SHA-256/SHA-512 hex digests", m, n)})
			}
		}
		if len(out) == 0 || out[0].Detector != Email {
			m := 0
			for _, s := range vals {
				if inTextRe.MatchString(s) {
					m++
				}
			}
			if m >= 2 && 20*m >= n {
				out = append(out, Hit{Email, fmt.Sprintf("%d of %d sampled values contain an e-mail address", m, n)})
			}
		}
	}
	return out
}

// Luhn reports whether a digit string passes the Luhn checksum.
func Luhn(digits string) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return len(digits) > 0 && sum%10 == 0
}

func isCard(s string) bool {
	d := strings.NewReplacer(" ", "", "-", "").Replace(s)
	if len(d) < 13 || len(d) > 19 || strings.Trim(d, "0123456789") != "" {
		return false
	}
	// Issuer prefixes: Visa 4, Mastercard 51-55 and 2221-2720, Amex 34/37,
	// Diners 30/36/38, JCB 35, Discover/UnionPay/Maestro 6.
	switch {
	case d[0] == '4', d[0] == '6':
	case d[0] == '5' && d[1] >= '1' && d[1] <= '5':
	case d[0] == '2' && d[:4] >= "2221" && d[:4] <= "2720":
	case d[0] == '3' && (d[1] == '0' || d[1] == '4' || d[1] == '5' || d[1] == '6' || d[1] == '7' || d[1] == '8'):
	default:
		return false
	}
	return Luhn(d)
}

func isSSN(s string) bool {
	m := ssnRe.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	area := m[1]
	return area != "000" && area != "666" && area[0] != '9' && m[2] != "00" && m[3] != "0000"
}

// IBANValid reports whether s (spaces allowed) is a syntactically valid
// IBAN whose mod-97 check is 1.
func IBANValid(s string) bool {
	s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
	if !ibanRe.MatchString(s) {
		return false
	}
	r := s[4:] + s[:4]
	mod := 0
	for _, c := range r {
		var v int
		if c >= '0' && c <= '9' {
			v = int(c - '0')
			mod = (mod*10 + v) % 97
		} else {
			v = int(c-'A') + 10
			mod = (mod*100 + v) % 97
		}
	}
	return mod == 1
}

func isIBAN(s string) bool { return IBANValid(s) }

func isIP(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && (a.Is4() || a.Is6())
}

func isPhone(s string) bool {
	switch {
	case strings.Trim(s, "0123456789 +-.()/") != "":
		return false
	case decRe.MatchString(s):
		return plainPhone(s)
	case dateRe.MatchString(s) || zipRe.MatchString(s) || isSSN(s) || isIP(s):
		return false
	}
	if strings.LastIndex(s, "+") > 0 {
		return false
	}
	digits := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits < 7 || digits > 15 {
		return false
	}
	if strings.HasPrefix(s, "+") {
		return digits >= 8
	}
	groups := len(strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' }))
	return groups >= 2 || strings.Contains(s, "(")
}

// plainPhone accepts an unformatted national number: a trunk 0 and 10 to
// 12 digits (07700900123); other digit runs are too ambiguous.
func plainPhone(s string) bool {
	return len(s) >= 10 && len(s) <= 12 && s[0] == '0' && s[1] != '0' && strings.Trim(s, "0123456789") == ""
}

func isPasswordHash(s string) bool {
	for _, re := range hashRes {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

func isSecret(s string) bool {
	for _, re := range secretRes {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
