// Package auth holds Tally's credentials and roles: how keys and tokens are
// made, how user keys are stored (only as a hash), and what each role may do.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
)

// Role is what a user may do in their organization.
type Role string

// The roles of the spec's user model. Product roles apply to one product.
const (
	OrgAdmin          Role = "org-admin"
	OrgReadonly       Role = "org-readonly"
	ProductAdmin      Role = "product-admin"
	ProductMember     Role = "product-member"
	ProductIntegrator Role = "product-integrator"
)

// Roles lists every role, org roles first.
var Roles = []Role{OrgAdmin, OrgReadonly, ProductAdmin, ProductMember, ProductIntegrator}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("unknown role %q (one of org-admin, org-readonly, product-admin, product-member, product-integrator)", s)
	}
	return r, nil
}

// ProductScoped reports whether the role applies to one product.
func (r Role) ProductScoped() bool {
	return r == ProductAdmin || r == ProductMember || r == ProductIntegrator
}

// Grant is one role of a user; ProductID is set for product roles.
type Grant struct {
	Role      Role
	ProductID int64
}

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID int64
	OrgID  int64
	Email  string
	Grants []Grant
}

func (p *Principal) has(match func(Grant) bool) bool {
	return slices.ContainsFunc(p.Grants, match)
}

// IsOrgAdmin: everything in the organization.
func (p *Principal) IsOrgAdmin() bool {
	return p.has(func(g Grant) bool { return g.Role == OrgAdmin })
}

// CanReadOrg: organization-wide reads.
func (p *Principal) CanReadOrg() bool {
	return p.has(func(g Grant) bool { return g.Role == OrgAdmin || g.Role == OrgReadonly })
}

// CanReadProduct: reads inside one product.
func (p *Principal) CanReadProduct(productID int64) bool {
	return p.CanReadOrg() || p.has(func(g Grant) bool { return g.Role.ProductScoped() && g.ProductID == productID })
}

// CanAdminProduct: changes inside one product (its tags, projects and their
// tags), not creating or deleting the product itself.
func (p *Principal) CanAdminProduct(productID int64) bool {
	return p.IsOrgAdmin() || p.has(func(g Grant) bool { return g.Role == ProductAdmin && g.ProductID == productID })
}

// CanUpdateInventory: uploading inventories (agent updates, SBOMs) into a
// product, creating its projects on the way.
func (p *Principal) CanUpdateInventory(productID int64) bool {
	return p.CanAdminProduct(productID) || p.has(func(g Grant) bool { return g.Role == ProductIntegrator && g.ProductID == productID })
}

// CanCreateProducts: creating products (directly or through an agent upload
// naming a new product).
func (p *Principal) CanCreateProducts() bool { return p.IsOrgAdmin() }

// KeyLength is the length of user keys and organization tokens, which the
// field's clients check.
const KeyLength = 64

// NewKey returns a random 64-character key (256 bits from crypto/rand, hex).
func NewKey() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never happens on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// NewUUID returns a random RFC 4122 version 4 UUID.
func NewUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// HashKey is how a user key is stored and looked up. Keys carry 256 random
// bits, so a single SHA-256 is enough: there is nothing to brute-force.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
