package store

// migration is one schema change.
type migration struct {
	version int
	sql     string
}

// migrations is the append-only list of schema changes, in version order.
// Each is applied once, inside its own transaction, and recorded in
// schema_migrations. Never edit an entry that has shipped: add a new one.
//
// The SQL is written to run on both SQLite and PostgreSQL. The only dialect
// difference is the auto-increment primary key, written {{PK}} and replaced
// by the dialect (see dialect.go).
var migrations = []migration{
	// 1: organizations, users, products, projects, tags.
	{1, `
CREATE TABLE orgs (
	id {{PK}},
	name TEXT NOT NULL,
	token TEXT NOT NULL UNIQUE,
	active BOOLEAN NOT NULL DEFAULT TRUE,
	created_at BIGINT NOT NULL
);

CREATE TABLE users (
	id {{PK}},
	org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	email TEXT NOT NULL UNIQUE,
	key_hash TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL
);

CREATE TABLE products (
	id {{PK}},
	org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	token TEXT NOT NULL UNIQUE,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (org_id, name)
);

CREATE TABLE user_roles (
	user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	role TEXT NOT NULL,
	product_id BIGINT REFERENCES products(id) ON DELETE CASCADE
);
CREATE INDEX user_roles_user ON user_roles (user_id);
CREATE INDEX user_roles_product ON user_roles (product_id);

CREATE TABLE projects (
	id {{PK}},
	product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
	name TEXT NOT NULL,
	token TEXT NOT NULL UNIQUE,
	description TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	plugin_name TEXT NOT NULL DEFAULT '',
	uploaded_by TEXT NOT NULL DEFAULT '',
	last_request_token TEXT NOT NULL DEFAULT '',
	last_scan_comment TEXT NOT NULL DEFAULT '',
	last_process TEXT NOT NULL DEFAULT 'SETUP',
	in_progress BOOLEAN NOT NULL DEFAULT FALSE,
	state_at BIGINT NOT NULL,
	UNIQUE (product_id, name)
);

CREATE TABLE product_tags (
	id {{PK}},
	product_id BIGINT NOT NULL REFERENCES products(id) ON DELETE CASCADE,
	tag_key TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	UNIQUE (product_id, tag_key, tag_value)
);

CREATE TABLE project_tags (
	id {{PK}},
	project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	tag_key TEXT NOT NULL,
	tag_value TEXT NOT NULL,
	UNIQUE (project_id, tag_key, tag_value)
);

CREATE TABLE notification_configs (
	org_id BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
	action TEXT NOT NULL,
	key_regex TEXT NOT NULL DEFAULT '',
	value_regex TEXT NOT NULL DEFAULT '',
	updated_at BIGINT NOT NULL
);
`},
	// 2: libraries (global per organization), per-project inventory,
	// dependency edges and source files; plugin requests.
	{2, `
CREATE TABLE libraries (
	id {{PK}},
	org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	key_uuid TEXT NOT NULL UNIQUE,
	identity TEXT NOT NULL,
	filename TEXT NOT NULL DEFAULT '',
	name TEXT NOT NULL DEFAULT '',
	group_id TEXT NOT NULL DEFAULT '',
	artifact_id TEXT NOT NULL DEFAULT '',
	version TEXT NOT NULL DEFAULT '',
	sha1 TEXT NOT NULL DEFAULT '',
	lib_type TEXT NOT NULL DEFAULT '',
	classifier TEXT NOT NULL DEFAULT '',
	extension TEXT NOT NULL DEFAULT '',
	purl TEXT NOT NULL DEFAULT '',
	licenses TEXT NOT NULL DEFAULT '[]',
	created_at BIGINT NOT NULL,
	UNIQUE (org_id, identity)
);

CREATE TABLE project_libraries (
	project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	library_id BIGINT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
	is_root BOOLEAN NOT NULL DEFAULT FALSE,
	scope TEXT NOT NULL DEFAULT '',
	match_type TEXT NOT NULL DEFAULT '',
	system_path TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (project_id, library_id)
);
CREATE INDEX project_libraries_library ON project_libraries (library_id);

CREATE TABLE library_edges (
	project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	parent_id BIGINT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
	child_id BIGINT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
	PRIMARY KEY (project_id, parent_id, child_id)
);
CREATE INDEX library_edges_child ON library_edges (child_id);

CREATE TABLE source_files (
	project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	library_id BIGINT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
	sha1 TEXT NOT NULL,
	name TEXT NOT NULL,
	path TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (project_id, library_id, sha1, path)
);
CREATE INDEX source_files_library ON source_files (library_id);

CREATE TABLE inhouse_patterns (
	org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	pattern TEXT NOT NULL,
	PRIMARY KEY (org_id, pattern)
);

CREATE TABLE plugin_requests (
	id {{PK}},
	org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	token TEXT NOT NULL UNIQUE,
	product_id BIGINT REFERENCES products(id) ON DELETE CASCADE,
	project_id BIGINT REFERENCES projects(id) ON DELETE CASCADE,
	state TEXT NOT NULL,
	update_type TEXT NOT NULL DEFAULT 'OVERRIDE',
	source TEXT NOT NULL DEFAULT '',
	payload TEXT NOT NULL DEFAULT '',
	requester_email TEXT NOT NULL DEFAULT '',
	uploaded_by TEXT NOT NULL DEFAULT '',
	failure_reason TEXT NOT NULL DEFAULT '',
	attempts INTEGER NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
CREATE INDEX plugin_requests_state ON plugin_requests (state, id);
CREATE INDEX plugin_requests_project ON plugin_requests (project_id);
`},
	// 3: the projects of each plugin request (an agent update may carry
	// several), and when each project's first update finished (its setup).
	{3, `
CREATE TABLE plugin_request_projects (
	request_id BIGINT NOT NULL REFERENCES plugin_requests(id) ON DELETE CASCADE,
	pos INTEGER NOT NULL,
	project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	PRIMARY KEY (request_id, pos)
);
CREATE INDEX plugin_request_projects_project ON plugin_request_projects (project_id, request_id);
ALTER TABLE projects ADD COLUMN setup_at BIGINT NOT NULL DEFAULT 0;
`},
	// 4: the notification outbox (project setup mail and webhooks) and
	// per-organization webhook endpoints.
	{4, `
CREATE TABLE outbox (
	id {{PK}},
	org_id BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
	project_id BIGINT NOT NULL DEFAULT 0,
	event TEXT NOT NULL,
	channel TEXT NOT NULL,
	dedup_key TEXT NOT NULL UNIQUE,
	state TEXT NOT NULL,
	note TEXT NOT NULL DEFAULT '',
	recipients TEXT NOT NULL DEFAULT '[]',
	subject TEXT NOT NULL DEFAULT '',
	body_text TEXT NOT NULL DEFAULT '',
	body_html TEXT NOT NULL DEFAULT '',
	payload TEXT NOT NULL DEFAULT '',
	attempts INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	next_attempt_at BIGINT NOT NULL DEFAULT 0,
	lease_owner TEXT NOT NULL DEFAULT '',
	lease_until BIGINT NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	sent_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (state, channel, next_attempt_at);
CREATE INDEX outbox_org ON outbox (org_id, id);

CREATE TABLE webhooks (
	org_id BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
	url TEXT NOT NULL,
	secret TEXT NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
);
`},
	// 5: edges by parent, which deleting a library (ON DELETE CASCADE)
	// searches; without it every removed library scans all edges.
	{5, `
CREATE INDEX library_edges_parent ON library_edges (parent_id);
`},
	// 6: edges and source files without foreign keys to libraries. Every
	// query on them is by project (their primary key's prefix); the
	// by-library indexes existed only so that deleting a library could find
	// them, and cost three random index inserts per edge on every upload.
	// They cannot be left behind: the pipeline keeps edges and files only
	// between libraries of the project's inventory, and a library is
	// deleted only when no project has it (project_libraries keeps its
	// foreign key). They still go with their project (ON DELETE CASCADE).
	{6, `
CREATE TABLE library_edges_v6 (
	project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	parent_id BIGINT NOT NULL,
	child_id BIGINT NOT NULL,
	PRIMARY KEY (project_id, parent_id, child_id)
);
INSERT INTO library_edges_v6 (project_id, parent_id, child_id) SELECT project_id, parent_id, child_id FROM library_edges;
DROP TABLE library_edges;
ALTER TABLE library_edges_v6 RENAME TO library_edges;

CREATE TABLE source_files_v6 (
	project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	library_id BIGINT NOT NULL,
	sha1 TEXT NOT NULL,
	name TEXT NOT NULL,
	path TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (project_id, library_id, sha1, path)
);
INSERT INTO source_files_v6 (project_id, library_id, sha1, name, path) SELECT project_id, library_id, sha1, name, path FROM source_files;
DROP TABLE source_files;
ALTER TABLE source_files_v6 RENAME TO source_files;
`},
}
