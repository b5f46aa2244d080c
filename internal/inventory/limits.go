package inventory

// Limits bound one inventory submission (docs/agent.md).
type Limits struct {
	// MaxLibraries is the most dependency entries (tree nodes, source files
	// included) over all projects of a submission.
	MaxLibraries int
	// MaxDepth is the deepest a dependency tree may nest.
	MaxDepth int
	// MaxProjects is the most projects one submission may name.
	MaxProjects int
}

// DefaultLimits are the limits unless configured otherwise.
var DefaultLimits = Limits{MaxLibraries: 200_000, MaxDepth: 100, MaxProjects: 1000}
