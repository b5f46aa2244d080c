package store

import "strings"

// dialect holds the few things that differ between the SQL backends.
type dialect interface {
	rewrite(schema string) string
	isUniqueViolation(err error) bool
}

type sqliteDialect struct{}

func (sqliteDialect) rewrite(schema string) string {
	return strings.ReplaceAll(schema, "{{PK}}", "INTEGER PRIMARY KEY AUTOINCREMENT")
}

func (sqliteDialect) isUniqueViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") ||
		strings.Contains(err.Error(), "PRIMARY KEY constraint failed"))
}
