package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"testing"
)

func TestParseRole(t *testing.T) {
	for _, r := range []string{"org-admin", "org-readonly", "product-admin", "product-member", "product-integrator"} {
		got, err := ParseRole(r)
		if err != nil || string(got) != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, r := range []string{"", "admin", "Org-Admin", "org-admin ", "product"} {
		if _, err := ParseRole(r); err == nil {
			t.Errorf("ParseRole(%q): want an error", r)
		}
	}
	scoped := map[Role]bool{OrgAdmin: false, OrgReadonly: false, ProductAdmin: true, ProductMember: true, ProductIntegrator: true}
	for r, want := range scoped {
		if r.ProductScoped() != want {
			t.Errorf("%s.ProductScoped() = %v", r, !want)
		}
	}
	if len(Roles) != len(scoped) {
		t.Errorf("Roles lists %d roles, want %d", len(Roles), len(scoped))
	}
}

// TestPermissions checks every permission of every role on its own product
// (1) and another (2), against the table of issue 2 point 7.
func TestPermissions(t *testing.T) {
	type perms struct{ readOrg, admin, readOwn, readOther, adminOwn, adminOther, inventoryOwn, inventoryOther, createProducts bool }
	want := map[Role]perms{
		OrgAdmin:          {true, true, true, true, true, true, true, true, true},
		OrgReadonly:       {true, false, true, true, false, false, false, false, false},
		ProductAdmin:      {false, false, true, false, true, false, true, false, false},
		ProductMember:     {false, false, true, false, false, false, false, false, false},
		ProductIntegrator: {false, false, true, false, false, false, true, false, false},
	}
	for role, w := range want {
		g := Grant{Role: role}
		if role.ProductScoped() {
			g.ProductID = 1
		}
		p := &Principal{UserID: 7, OrgID: 3, Grants: []Grant{g}}
		got := perms{p.CanReadOrg(), p.IsOrgAdmin(), p.CanReadProduct(1), p.CanReadProduct(2), p.CanAdminProduct(1), p.CanAdminProduct(2),
			p.CanUpdateInventory(1), p.CanUpdateInventory(2), p.CanCreateProducts()}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", role, got, w)
		}
	}
	// No grants: nothing.
	none := &Principal{}
	if none.CanReadOrg() || none.CanReadProduct(0) || none.CanAdminProduct(0) || none.CanUpdateInventory(0) || none.CanCreateProducts() {
		t.Errorf("a principal without grants may do something")
	}
	// Grants add up: admin of 1 and member of 2.
	both := &Principal{Grants: []Grant{{ProductAdmin, 1}, {ProductMember, 2}}}
	if !both.CanAdminProduct(1) || both.CanAdminProduct(2) || !both.CanReadProduct(2) || both.CanReadOrg() {
		t.Errorf("accumulated grants: wrong permissions")
	}
}

func TestNewKey(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		k := NewKey()
		if len(k) != KeyLength || !re.MatchString(k) {
			t.Fatalf("NewKey() = %q: want %d hex characters", k, KeyLength)
		}
		if seen[k] {
			t.Fatalf("NewKey() repeated %q", k)
		}
		seen[k] = true
	}
}

func TestNewUUID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		u := NewUUID()
		if !re.MatchString(u) {
			t.Fatalf("NewUUID() = %q: not an RFC 4122 version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("NewUUID() repeated %q", u)
		}
		seen[u] = true
	}
}

func TestHashKey(t *testing.T) {
	k := NewKey()
	h := HashKey(k)
	sum := sha256.Sum256([]byte(k))
	if h != hex.EncodeToString(sum[:]) {
		t.Errorf("HashKey is not the hex SHA-256 of the key")
	}
	if h == k || HashKey(k) != h || HashKey(NewKey()) == h {
		t.Errorf("HashKey must be deterministic, differ from the key and between keys")
	}
}
