package cli_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/tallytest"
)

// TestGracefulShutdown: a request in flight when the server is told to stop
// (the context SIGINT/SIGTERM cancel) is answered in full; then the server
// exits cleanly and accepts nothing new.
func TestGracefulShutdown(t *testing.T) {
	s := tallytest.Start(t)
	body := `{"requestType":"createProduct","userKey":"` + s.Admin.UserKey + `","orgToken":"` + s.Admin.OrgToken + `","productName":"In flight"}`
	half := len(body) / 2
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	// Send the headers over a plain connection asking to continue: the
	// server answers "100 Continue" when the handler starts reading the
	// body, so once that line is read the request is in flight.
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", u.Host, len(body))
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q, %v", line, err)
	}
	if blank, err := br.ReadString('\n'); err != nil || blank != "\r\n" {
		t.Fatalf("after 100 Continue: %q, %v", blank, err)
	}
	if _, err := io.WriteString(conn, body[:half]); err != nil {
		t.Fatal(err)
	}

	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	// Wait until the server has begun shutting down (it logs so): a
	// condition, not a duration; the deadline only bounds a hung test.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.Logs(), "shutting down") {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not begin shutting down:\n%s", s.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case <-stopped:
		t.Fatalf("the server stopped with a request in flight")
	default:
	}
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request: %v\n%s", err, s.Logs())
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("in-flight request: status %d, %v: %s", resp.StatusCode, err, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["message"] != "Successfully created product In flight" {
		t.Errorf("in-flight request answered %s", b)
	}
	<-stopped
	if _, err := http.Get(s.URL + "/healthz"); err == nil {
		t.Errorf("the stopped server still accepts connections")
	}
	if !strings.Contains(s.Logs(), "level=INFO msg=stopped") {
		t.Errorf("no clean stop in the logs:\n%s", s.Logs())
	}
}
