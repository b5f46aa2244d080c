// Package inventory is Tally's domain model of what a project uses: libraries
// (global to an organization, identified by keyUuid/keyId), the project's
// inventory of them, its dependency edges and each library's source files.
package inventory

// Library is one library of an organization. The same library reported by
// several projects is one Library with one KeyUUID and one ID (keyId).
type Library struct {
	ID         int64 // keyId
	KeyUUID    string
	Filename   string
	Name       string
	GroupID    string
	ArtifactID string
	Version    string
	Sha1       string
	Type       string
	Classifier string
	Extension  string
	Purl       string
	Licenses   []string
}

// Coordinates is groupId:artifactId:version, or what of it is known.
func (l *Library) Coordinates() string {
	if l.GroupID == "" && l.Version == "" {
		return l.ArtifactID
	}
	if l.GroupID == "" {
		return l.ArtifactID + ":" + l.Version
	}
	return l.GroupID + ":" + l.ArtifactID + ":" + l.Version
}

// ProjectLibrary is a library as one project has it.
type ProjectLibrary struct {
	Library
	Root       bool // a top-level dependency of the project
	Scope      string
	MatchType  string
	SystemPath string
}

// Edge says that in one project Parent depends on Child (library IDs).
type Edge struct {
	Parent, Child int64
}

// SourceFile is file evidence of a library in a project.
type SourceFile struct {
	Sha1 string
	Name string
	Path string
}
