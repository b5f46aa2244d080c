package api

import "fmt"

// Error is an API-level failure, answered with HTTP 200 and
// {"errorCode": Code, "errorMessage": Message}. docs/errors.md lists the codes.
type Error struct {
	Code    int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("error %d: %s", e.Code, e.Message) }

// The error codes. Those marked attested are the live service's; the others
// are Tally's own (docs/errors.md).
const (
	CodeInvalidOrgToken     = 1001 // ours; the message is attested
	CodeInvalidProductToken = 1003 // attested
	CodeInvalidProjectToken = 1004 // ours
	CodeInvalidUserKey      = 1005 // ours
	CodeProductNameTaken    = 2001 // attested
	CodeProjectNameTaken    = 2010 // attested
	CodeInactiveOrg         = 2015 // attested
	CodeInvalidParameters   = 3000 // attested; some clients retry it
	CodeUnknownRequestType  = 3001 // ours
	CodeMalformedBody       = 3002 // ours
	CodeBodyTooLarge        = 3003 // ours
	CodeMissingFields       = 3010 // attested
	CodeTagNotFound         = 3020 // ours
	CodeUnexpected          = 4000 // attested
	CodeNotAllowed          = 5001 // attested
	CodeInvalidKeyUUID      = 8000 // attested
)

func errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

var (
	errNotAllowed      = &Error{CodeNotAllowed, "User is not allowed to perform this action"}
	errInvalidUserKey  = &Error{CodeInvalidUserKey, "Invalid user key"}
	errInvalidOrg      = &Error{CodeInvalidOrgToken, "Invalid organization token"}
	errInvalidProduct  = &Error{CodeInvalidProductToken, "Invalid product token"}
	errInvalidProject  = &Error{CodeInvalidProjectToken, "Invalid project token"}
	errInactiveOrg     = &Error{CodeInactiveOrg, "Organization is inactive"}
	errInvalidKeyUUID  = &Error{CodeInvalidKeyUUID, "Invalid key UUID"}
	errUnexpectedError = &Error{CodeUnexpected, "Unexpected error"}
)
