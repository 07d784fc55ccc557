package plan

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wavectl/wavectl/pkg/term"
)

// Severity tells errors, which make a plan invalid, from warnings.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Pos is a place in a plan file. Line and Column count from 1.
type Pos struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Problem is one thing wrong (or odd) with a plan, with where it is and
// what to do about it.
type Problem struct {
	Pos
	Severity Severity `json:"severity"`
	Path     string   `json:"path,omitempty"`
	Message  string   `json:"message"`
	Hint     string   `json:"hint,omitempty"`
}

// String is the problem as "file:line:col: severity: message" and its
// hint. A message or hint quotes what the plan holds; control characters
// in it are escaped (package term) so that printing a problem cannot act on a
// terminal.
func (p Problem) String() string {
	s := fmt.Sprintf("%s: %s: %s", term.Escape(p.Pos.String()), p.Severity, term.Escape(p.Message))
	if p.Hint != "" {
		s += "\n    hint: " + term.Escape(p.Hint)
	}
	return s
}

// Problems is every problem found in one pass.
type Problems []Problem

// Errors counts the problems of error severity.
func (ps Problems) Errors() int {
	n := 0
	for _, p := range ps {
		if p.Severity == SeverityError {
			n++
		}
	}
	return n
}

// Warnings counts the problems of warning severity.
func (ps Problems) Warnings() int { return len(ps) - ps.Errors() }

// Sort orders problems by file, line and column, keeping the order of
// problems found at the same place.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
}

// Error lets a set of problems travel as an error; it lists them all.
func (ps Problems) Error() string {
	lines := make([]string, 0, len(ps))
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	return strings.Join(lines, "\n")
}

// InvalidError is returned when a plan has errors; it carries every problem
// found, warnings included.
type InvalidError struct {
	File     string
	Problems Problems
}

func (e *InvalidError) Error() string {
	return fmt.Sprintf("%s: plan is invalid (%d errors, %d warnings)", e.File, e.Problems.Errors(), e.Problems.Warnings())
}

// suggest returns the candidate closest to s, when it is close enough to be
// a likely typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", len(s)/3+2
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := levenshtein(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
