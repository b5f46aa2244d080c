package notify_test

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/ingest"
	"github.com/tallyhq/tally/internal/notify"
	"github.com/tallyhq/tally/internal/notify/notifytest"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// BenchmarkRecord measures the hook's cost inside the pipeline's
// transaction: config, tags and administrators read, mail rendered, one
// outbox row written.
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, tallytest.NewDatabase(b, b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	org, _ := st.CreateOrg(ctx, "Bench", "a@b.test", auth.HashKey(auth.NewKey()))
	product, _ := st.CreateProduct(ctx, org.ID, "P")
	if err := st.SetNotificationConfig(ctx, org.ID, store.NotificationConfig{Action: "CUSTOM", KeyRegex: "^team$", ValueRegex: "^core$"}); err != nil {
		b.Fatal(err)
	}
	n := notify.NewNotifier(st, notify.NotifierOptions{})
	var projects []store.Project
	for i := range b.N {
		p, err := st.CreateProject(ctx, product, "p"+strconv.Itoa(i), "")
		if err != nil {
			b.Fatal(err)
		}
		if err := st.AddTag(ctx, store.ProjectTag, p.ID, "team", "core"); err != nil {
			b.Fatal(err)
		}
		projects = append(projects, p)
	}
	b.ResetTimer()
	for _, p := range projects {
		err := st.Tx(ctx, func(tx *sql.Tx) error {
			return n.ProjectSetupCompleted(ctx, tx, ingestEvent(org, product, p))
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeliver measures delivery from the outbox to the in-process SMTP
// server: claim, one SMTP session per mail, outcome recorded.
func BenchmarkDeliver(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, tallytest.NewDatabase(b, b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	org, _ := st.CreateOrg(ctx, "Bench", "a@b.test", auth.HashKey(auth.NewKey()))
	product, _ := st.CreateProduct(ctx, org.ID, "P")
	if err := st.SetNotificationConfig(ctx, org.ID, store.NotificationConfig{Action: "ENABLED"}); err != nil {
		b.Fatal(err)
	}
	n := notify.NewNotifier(st, notify.NotifierOptions{})
	for i := range b.N {
		p, err := st.CreateProject(ctx, product, "p"+strconv.Itoa(i), "")
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Tx(ctx, func(tx *sql.Tx) error { return n.ProjectSetupCompleted(ctx, tx, ingestEvent(org, product, p)) }); err != nil {
			b.Fatal(err)
		}
	}
	srv := notifytest.Start(b)
	sender, err := notify.NewSender(st, notify.SenderConfig{SMTP: &notify.SMTPConfig{Host: srv.Host, Port: srv.Port, TLS: notify.TLSNone, From: "t@b.test"}, Poll: time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sender.Run(runCtx); close(done) }()
	srv.WaitMessages(b.N, 10*time.Minute)
	b.StopTimer()
	cancel()
	<-done
}

func ingestEvent(org store.Org, product store.Product, p store.Project) ingest.SetupEvent {
	return ingest.SetupEvent{OrgID: org.ID, OrgName: org.Name, ProductID: product.ID, ProductName: product.Name,
		ProjectID: p.ID, ProjectName: p.Name, ProjectToken: p.Token, Libraries: 10, RequestToken: "r-" + p.Token, FinishedAt: time.Now()}
}
