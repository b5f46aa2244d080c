package inventory

import "strings"

// InHouse reports whether a library is one of the organization's own, given
// its in-house glob patterns. A pattern matches the groupId, the artifactId,
// or "groupId:artifactId"; '*' matches any run of characters (dots and
// slashes included) and '?' any one character.
func InHouse(l *Library, patterns []string) bool {
	for _, p := range patterns {
		if (l.GroupID != "" && Glob(p, l.GroupID)) || Glob(p, l.ArtifactID) ||
			(l.GroupID != "" && Glob(p, l.GroupID+":"+l.ArtifactID)) {
			return true
		}
	}
	return false
}

// Glob matches s against pattern with '*' and '?' wildcards, in time linear
// in len(pattern)*len(s).
func Glob(pattern, s string) bool {
	p := []rune(pattern)
	t := []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// ValidPattern checks an in-house pattern before it is stored.
func ValidPattern(p string) bool {
	return strings.TrimSpace(p) != "" && len(p) <= 255
}
