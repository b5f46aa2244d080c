package sbom_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/ingest"
	"github.com/tallyhq/tally/internal/sbom"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// TestSlowSender: a sender that stops mid-body is cut off after
// BodyTimeout and its slot freed for the next upload.
func TestSlowSender(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, tallytest.NewDatabase(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	key := auth.NewKey()
	org, err := st.CreateOrg(ctx, "Org", "admin@example.com", auth.HashKey(key))
	if err != nil {
		t.Fatal(err)
	}
	h := sbom.NewHandler(ingest.New(st, ingest.Options{}), sbom.HandlerOptions{BodyTimeout: 300 * time.Millisecond, MaxConcurrent: 1})
	srv := httptest.NewServer(h)
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /sbom?product=P HTTP/1.1\r\nHost: x\r\n%s: %s\r\n%s: %s\r\nContent-Length: 1000\r\n\r\n{\"bomFormat\":",
		sbom.HeaderOrgToken, org.Token, sbom.HeaderUserKey, key)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("stalled body: status %d", resp.StatusCode)
	}

	// The one slot is free again.
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/sbom?product=P&project=q", strings.NewReader(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"a","version":"1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(sbom.HeaderOrgToken, org.Token)
	req.Header.Set(sbom.HeaderUserKey, key)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("upload after the stalled one: status %d", resp.StatusCode)
	}
}
