package discover

import (
	"regexp"
	"strings"
)

// DefaultAffixes are the environment and role words that name-stem
// grouping strips from the end of a VM name (and drops as whole words), so
// that BBWMFG01, BBWMFG02 and BBWMFGBETA01 make one application "bbwmfg"
// and pay-web-01 and pay-db-01 one application "pay". A rules file
// replaces the list with nameStem.affixes.
var DefaultAffixes = []string{
	"prod", "prd", "dev", "devl", "test", "tst", "qa", "sqa", "uat", "stg", "stage", "staging", "beta", "sandbox", "sand", "dr",
	"web", "wfe", "app", "apps", "api", "db", "sql", "fe", "be",
}

// DefaultStemMinLength is the shortest stem that name-stem grouping leaves:
// it strips no affix that would leave less.
const DefaultStemMinLength = 3

var (
	stemSep    = regexp.MustCompile(`[-_. ()]+`)
	stemDigits = regexp.MustCompile(`[0-9]+[a-z]?$`)
)

// nameStem is the stem of a VM name by the documented rule: lower case;
// split into words at dashes, underscores, dots, spaces and brackets;
// words that are only digits or an affix are dropped; from the end of the
// last word, trailing digits (with one letter after them, as in 03a) and
// affixes are stripped for as long as at least minLen characters of the
// stem remain. A name that would leave nothing keeps its first word.
func nameStem(name string, affixes []string, minLen int) string {
	words := stemSep.Split(strings.ToLower(name), -1)
	var kept []string
	for _, w := range words {
		if w == "" || strings.Trim(w, "0123456789") == "" || contains(affixes, w) {
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		for _, w := range words {
			if w != "" {
				return w
			}
		}
		return strings.ToLower(name)
	}
	last := kept[len(kept)-1]
	rest := len(strings.Join(kept[:len(kept)-1], "-"))
	for changed := true; changed; {
		changed = false
		if d := stemDigits.FindString(last); d != "" && d != last && rest+len(last)-len(d) >= minLen {
			last, changed = last[:len(last)-len(d)], true
		}
		for _, a := range affixes {
			if strings.HasSuffix(last, a) && last != a && rest+len(last)-len(a) >= minLen {
				last, changed = last[:len(last)-len(a)], true
				break
			}
		}
	}
	kept[len(kept)-1] = last
	return strings.Join(kept, "-")
}
