package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/store"
)

func runAdmin(ctx context.Context, args []string, env *environment) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, usage)
		return errors.New("admin: no subcommand given")
	}
	cmds := map[string]func(context.Context, []string, *environment) error{
		"create-org":  adminCreateOrg,
		"create-user": adminCreateUser,
		"grant":       adminGrant,
		"rotate-key":  adminRotateKey,
		"set-inhouse": adminSetInhouse,
		"set-webhook": adminSetWebhook,
		"outbox":      adminOutbox,
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprint(env.stderr, usage)
		return fmt.Errorf("admin: unknown subcommand %q", args[0])
	}
	return cmd(ctx, args[1:], env)
}

func openStore(ctx context.Context, db string) (*store.Store, error) {
	st, err := store.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	return st, nil
}

// openOrg opens the database and finds the organization of orgToken, for
// the admin commands that act on one organization. The caller closes the
// store.
func openOrg(ctx context.Context, db, orgToken, command string) (*store.Store, store.Org, error) {
	st, err := openStore(ctx, db)
	if err != nil {
		return nil, store.Org{}, err
	}
	org, err := st.OrgByToken(ctx, orgToken)
	if err != nil {
		st.Close()
		if errors.Is(err, store.ErrNotFound) {
			return nil, store.Org{}, fmt.Errorf("%s: no organization has that --org-token", command)
		}
		return nil, store.Org{}, err
	}
	return st, org, nil
}

func (e *environment) output(asJSON bool, v any, text string) error {
	if asJSON {
		return e.printJSON(v)
	}
	_, err := fmt.Fprintln(e.stdout, text)
	return err
}

func adminCreateOrg(ctx context.Context, args []string, env *environment) error {
	fs := env.newFlags("admin create-org")
	db := env.dbFlag(fs)
	name := fs.String("name", "", "organization name")
	email := fs.String("admin-email", "", "the administrator's email")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required("name", *name, "admin-email", *email); err != nil {
		return fmt.Errorf("admin create-org: %w", err)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	key := auth.NewKey()
	org, err := st.CreateOrg(ctx, *name, *email, auth.HashKey(key))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("admin create-org: a user with email %s exists already", *email)
	}
	if err != nil {
		return err
	}
	c := Credentials{OrgName: org.Name, OrgToken: org.Token, UserKey: key, Email: *email}
	return env.output(*asJSON, c, fmt.Sprintf("organization %q\norgToken: %s\nuserKey (%s): %s", c.OrgName, c.OrgToken, c.Email, c.UserKey))
}

// roleTarget resolves an org token and, for product roles, a product token.
func roleTarget(ctx context.Context, st *store.Store, orgToken, roleName, productToken string) (store.Org, auth.Role, int64, error) {
	role, err := auth.ParseRole(roleName)
	if err != nil {
		return store.Org{}, "", 0, err
	}
	org, err := st.OrgByToken(ctx, orgToken)
	if errors.Is(err, store.ErrNotFound) {
		return store.Org{}, "", 0, errors.New("no organization has that --org-token")
	}
	if err != nil {
		return store.Org{}, "", 0, err
	}
	if !role.ProductScoped() {
		if productToken != "" {
			return store.Org{}, "", 0, fmt.Errorf("role %s is organization-wide: leave out --product-token", role)
		}
		return org, role, 0, nil
	}
	if productToken == "" {
		return store.Org{}, "", 0, fmt.Errorf("role %s needs --product-token", role)
	}
	p, err := st.ProductByToken(ctx, productToken)
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.OrgID != org.ID) {
		return store.Org{}, "", 0, errors.New("no product of that organization has that --product-token")
	}
	if err != nil {
		return store.Org{}, "", 0, err
	}
	return org, role, p.ID, nil
}

func adminCreateUser(ctx context.Context, args []string, env *environment) error {
	fs := env.newFlags("admin create-user")
	db := env.dbFlag(fs)
	orgToken := fs.String("org-token", "", "the organization's token")
	email := fs.String("email", "", "the user's email")
	roleName := fs.String("role", "", "org-admin, org-readonly, product-admin, product-member or product-integrator")
	productToken := fs.String("product-token", "", "the product, for product roles")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required("org-token", *orgToken, "email", *email, "role", *roleName); err != nil {
		return fmt.Errorf("admin create-user: %w", err)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	org, role, productID, err := roleTarget(ctx, st, *orgToken, *roleName, *productToken)
	if err != nil {
		return fmt.Errorf("admin create-user: %w", err)
	}
	key := auth.NewKey()
	if _, err := st.CreateUser(ctx, org.ID, *email, auth.HashKey(key), role, productID); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("admin create-user: a user with email %s exists already (give them more roles with tally admin grant)", *email)
		}
		return err
	}
	out := struct {
		Email   string `json:"email"`
		UserKey string `json:"userKey"`
		Role    string `json:"role"`
	}{*email, key, string(role)}
	return env.output(*asJSON, out, fmt.Sprintf("user %s (%s)\nuserKey: %s", out.Email, out.Role, out.UserKey))
}

func adminGrant(ctx context.Context, args []string, env *environment) error {
	fs := env.newFlags("admin grant")
	db := env.dbFlag(fs)
	orgToken := fs.String("org-token", "", "the organization's token")
	email := fs.String("email", "", "the user's email")
	roleName := fs.String("role", "", "the role to add")
	productToken := fs.String("product-token", "", "the product, for product roles")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required("org-token", *orgToken, "email", *email, "role", *roleName); err != nil {
		return fmt.Errorf("admin grant: %w", err)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	org, role, productID, err := roleTarget(ctx, st, *orgToken, *roleName, *productToken)
	if err != nil {
		return fmt.Errorf("admin grant: %w", err)
	}
	// Roles carry no organization of their own: they apply in the user's.
	// So the user must belong to the organization named, or an org role
	// given "in" one organization would act in another.
	u, err := st.UserByEmail(ctx, *email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.OrgID != org.ID) {
		return fmt.Errorf("admin grant: the organization has no user with email %s", *email)
	}
	if err != nil {
		return fmt.Errorf("admin grant: %w", err)
	}
	if err := st.GrantRole(ctx, *email, role, productID); err != nil {
		return fmt.Errorf("admin grant: %w", err)
	}
	out := struct {
		Email string `json:"email"`
		Role  string `json:"role"`
	}{*email, string(role)}
	return env.output(*asJSON, out, fmt.Sprintf("granted %s to %s", role, *email))
}

func adminRotateKey(ctx context.Context, args []string, env *environment) error {
	fs := env.newFlags("admin rotate-key")
	db := env.dbFlag(fs)
	email := fs.String("email", "", "the user's email")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required("email", *email); err != nil {
		return fmt.Errorf("admin rotate-key: %w", err)
	}
	st, err := openStore(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	key := auth.NewKey()
	if err := st.RotateKey(ctx, *email, auth.HashKey(key)); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("admin rotate-key: no user has email %s", *email)
		}
		return err
	}
	out := struct {
		Email   string `json:"email"`
		UserKey string `json:"userKey"`
	}{*email, key}
	return env.output(*asJSON, out, "userKey: "+key)
}

func adminSetInhouse(ctx context.Context, args []string, env *environment) error {
	fs := env.newFlags("admin set-inhouse")
	db := env.dbFlag(fs)
	orgToken := fs.String("org-token", "", "the organization's token")
	pattern := fs.String("pattern", "", "glob on groupId, artifactId or groupId:artifactId, e.g. 'com.acme.*'")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := required("org-token", *orgToken, "pattern", *pattern); err != nil {
		return fmt.Errorf("admin set-inhouse: %w", err)
	}
	if !inventory.ValidPattern(*pattern) {
		return errors.New("admin set-inhouse: the pattern must be 1 to 255 characters")
	}
	st, org, err := openOrg(ctx, *db, *orgToken, "admin set-inhouse")
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.AddInhousePattern(ctx, org.ID, *pattern); err != nil {
		return err
	}
	patterns, err := st.InhousePatterns(ctx, org.ID)
	if err != nil {
		return err
	}
	out := struct {
		Patterns []string `json:"patterns"`
	}{patterns}
	return env.output(*asJSON, out, fmt.Sprintf("in-house patterns: %v", patterns))
}
