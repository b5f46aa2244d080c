package api_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// outline renders a hierarchy as "name(child,child)" lines, for comparing
// tree structure.
func outline(v any) string {
	list, _ := v.([]any)
	var parts []string
	for _, e := range list {
		o := e.(map[string]any)
		s := o["artifactId"].(string)
		if deps, ok := o["dependencies"]; ok {
			s += "(" + outline(deps) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}

func uuidN(n int) string {
	return "cccccccc-0000-4000-8000-" + strings.Repeat("0", 11) + string(rune('0'+n))
}

// TestHierarchyShapes: a library reached twice is expanded at its first
// place only (the decision in docs/api.md), cycles end, and
// includeInHouseData=false leaves out in-house libraries, keeping what they
// depend on.
func TestHierarchyShapes(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	p := r.CreateProduct("Alpha")
	pj := r.CreateProject(p, "app")
	// app → a → c → d; app → b → c (diamond); d → a (cycle); app → acme → e
	r.seedInventory(org, pj, []lib{
		{uuid: uuidN(1), artifact: "a", name: "a", root: true, children: []string{uuidN(3)}},
		{uuid: uuidN(2), artifact: "b", name: "b", root: true, children: []string{uuidN(3)}},
		{uuid: uuidN(3), artifact: "c", name: "c", children: []string{uuidN(4)}},
		{uuid: uuidN(4), artifact: "d", name: "d", children: []string{uuidN(1)}},
		{uuid: uuidN(5), group: "com.acme", artifact: "acme-core", name: "acme-core", root: true, children: []string{uuidN(6)}},
		{uuid: uuidN(6), artifact: "e", name: "e"},
	})
	h := r.mustOK(req("getProjectHierarchy", key, "projectToken", pj))
	if got, want := outline(h.m["libraries"]), "a(c(d(a))),b(c),acme-core(e)"; got != want {
		t.Errorf("hierarchy = %s, want %s", got, want)
	}
	// includeInHouseData defaults to true; "false" as a string is accepted
	// as the spec writes the value in quotes.
	r.AdminJSON("set-inhouse", "--org-token", org, "--pattern", "com.acme*")
	h = r.mustOK(req("getProjectHierarchy", key, "projectToken", pj))
	if got, want := outline(h.m["libraries"]), "a(c(d(a))),b(c),acme-core(e)"; got != want {
		t.Errorf("with in-house data (default) = %s, want %s", got, want)
	}
	for _, v := range []any{false, "false"} {
		body := req("getProjectHierarchy", key, "projectToken", pj)
		body["includeInHouseData"] = v
		h = r.mustOK(body)
		if got, want := outline(h.m["libraries"]), "a(c(d(a))),b(c),e"; got != want {
			t.Errorf("includeInHouseData=%#v: %s, want %s", v, got, want)
		}
		body["requestType"] = "getProjectInventory"
		inv := r.mustOK(body)
		var names []string
		for _, l := range inv.m["libraries"].([]any) {
			names = append(names, l.(map[string]any)["artifactId"].(string))
		}
		if diff := cmp.Diff([]string{"a", "b", "c", "d", "e"}, names); diff != "" {
			t.Errorf("inventory without in-house data (-want +got):\n%s", diff)
		}
	}
	// Library dependencies: the subtree under one library.
	deps := r.mustOK(req("getProjectLibraryDependencies", key, "projectToken", pj, "keyUuid", uuidN(2)))
	outer := deps.m["dependencies"].([]any)
	if len(outer) != 1 {
		t.Fatalf("dependencies: want one list in the list, got %s", deps.raw)
	}
	if got, want := outline(outer[0]), "c(d(a(c())))"; got != want {
		t.Errorf("dependencies of b = %s, want %s", got, want)
	}
	leaf := r.mustOK(req("getProjectLibraryDependencies", key, "projectToken", pj, "keyUuid", uuidN(6)))
	if diff := cmp.Diff(map[string]any{"dependencies": []any{[]any{}}}, leaf.m); diff != "" {
		t.Errorf("dependencies of a leaf (-want +got):\n%s", diff)
	}
	// An empty project.
	empty := r.CreateProject(p, "empty")
	if diff := cmp.Diff(map[string]any{"libraries": []any{}}, r.mustOK(req("getProjectHierarchy", key, "projectToken", empty)).m); diff != "" {
		t.Errorf("empty hierarchy (-want +got):\n%s", diff)
	}
	inv := r.mustOK(req("getProjectInventory", key, "projectToken", empty))
	if libs, ok := inv.m["libraries"].([]any); !ok || len(libs) != 0 {
		t.Errorf("empty inventory: %s", inv.raw)
	}
	sf := r.mustOK(req("getLibrarySourceFiles", key, "projectToken", pj, "keyUuid", uuidN(1)))
	if diff := cmp.Diff(map[string]any{"sourceFiles": []any{}}, sf.m); diff != "" {
		t.Errorf("no source files (-want +got):\n%s", diff)
	}
}
