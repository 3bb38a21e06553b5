package policies

import (
	"strings"

	"github.com/agext/levenshtein"
)

// Suggest returns " Did you mean "x"?" for the candidate nearest to name,
// or "" when none is close. It is shared by every diagnostic that names an
// unknown thing.
func Suggest(name string, candidates []string) string {
	best, bestDist := "", 1<<30
	for _, c := range candidates {
		// A prefix is as good a hint as a typo: "backup_repo".
		if len(name) >= 4 && strings.HasPrefix(c, name) {
			return " Did you mean \"" + c + "\"?"
		}
		d := levenshtein.Distance(name, c, nil)
		if d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" || bestDist > max(3, len(name)/3) {
		return ""
	}
	return " Did you mean \"" + best + "\"?"
}
