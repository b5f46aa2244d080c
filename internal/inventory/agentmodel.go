package inventory

// The inventory as agents send it (the /agent diff) and as SBOM uploads are
// converted to: a list of AgentProjectInfo, each with a tree of
// DependencyInfo. Field names follow the agents' JSON; unknown keys are
// ignored and missing ones accepted.

// Coordinates name a project (artifactId is the project name) or its parent.
type Coordinates struct {
	GroupID    string `json:"groupId,omitempty"`
	ArtifactID string `json:"artifactId,omitempty"`
	Version    string `json:"version,omitempty"`
}

// AgentTag is a project tag sent with an update.
type AgentTag struct {
	TagKey   string `json:"tagKey"`
	TagValue string `json:"tagValue"`
}

// ProjectInfo is one project of an update (AgentProjectInfo).
type ProjectInfo struct {
	Coordinates             *Coordinates     `json:"coordinates,omitempty"`
	ParentCoordinates       *Coordinates     `json:"parentCoordinates,omitempty"`
	ProjectToken            string           `json:"projectToken,omitempty"`
	ProjectSetupStatus      string           `json:"projectSetupStatus,omitempty"`
	ProjectSetupDescription string           `json:"projectSetupDescription,omitempty"`
	ProjectTags             []AgentTag       `json:"projectTags,omitempty"`
	Dependencies            []DependencyInfo `json:"dependencies"`
}

// DependencyInfo is one library of an update with its children (the tree).
type DependencyInfo struct {
	GroupID           string            `json:"groupId,omitempty"`
	ArtifactID        string            `json:"artifactId,omitempty"`
	Version           string            `json:"version,omitempty"`
	VersionID         string            `json:"versionId,omitempty"` // one old plugin's name for version
	Type              string            `json:"type,omitempty"`
	Classifier        string            `json:"classifier,omitempty"`
	Scope             string            `json:"scope,omitempty"`
	Sha1              string            `json:"sha1,omitempty"`
	FullHash          string            `json:"fullHash,omitempty"`
	CommentlessSha1   string            `json:"commentlessSha1,omitempty"`
	NoNewLinesSha1    string            `json:"noNewLinesSha1,omitempty"`
	OtherPlatformSha1 string            `json:"otherPlatformSha1,omitempty"`
	AdditionalSha1    any               `json:"additionalSha1,omitempty"`
	Checksums         map[string]string `json:"checksums,omitempty"`
	SystemPath        string            `json:"systemPath,omitempty"`
	Filename          string            `json:"filename,omitempty"`
	DependencyFile    string            `json:"dependencyFile,omitempty"`
	Optional          bool              `json:"optional,omitempty"`
	Deduped           bool              `json:"deduped,omitempty"`
	IsModule          bool              `json:"isModule,omitempty"`
	DependencyType    string            `json:"dependencyType,omitempty"`
	Purl              string            `json:"purl,omitempty"`
	LastModified      any               `json:"lastModified,omitempty"`
	Licenses          []string          `json:"licenses,omitempty"`
	Copyrights        any               `json:"copyrights,omitempty"`
	Name              string            `json:"name,omitempty"` // npm plugin
	Children          []DependencyInfo  `json:"children,omitempty"`
}
