package notify

import (
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/tallyhq/tally/internal/ingest"
)

// mailData is what the templates show.
type mailData struct {
	Org, Product, Project string
	Libraries             int
	RequestToken          string
	RequesterEmail        string
	Time                  string
}

var textMail = texttemplate.Must(texttemplate.New("text").Parse(`The setup of a project has completed in Tally: its first inventory update was processed.

Organization:   {{.Org}}
Product:        {{.Product}}
Project:        {{.Project}}
Libraries:      {{.Libraries}}
Request token:  {{.RequestToken}}
Completed at:   {{.Time}}
{{- if .RequesterEmail}}
Requested by:   {{.RequesterEmail}}{{end}}

You receive this because you administer the organization or the product,
or because the update named you as its requester.
`))

// The HTML template escapes every value: names come from API clients.
var htmlMail = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Project setup completed</title></head>
<body style="font-family: sans-serif">
<p>The setup of a project has completed in Tally: its first inventory update was processed.</p>
<table cellpadding="4">
<tr><th align="left">Organization</th><td>{{.Org}}</td></tr>
<tr><th align="left">Product</th><td>{{.Product}}</td></tr>
<tr><th align="left">Project</th><td>{{.Project}}</td></tr>
<tr><th align="left">Libraries</th><td>{{.Libraries}}</td></tr>
<tr><th align="left">Request token</th><td><code>{{.RequestToken}}</code></td></tr>
<tr><th align="left">Completed at</th><td>{{.Time}}</td></tr>
{{- if .RequesterEmail}}
<tr><th align="left">Requested by</th><td>{{.RequesterEmail}}</td></tr>
{{- end}}
</table>
<p style="color: #666">You receive this because you administer the organization or the product, or because the update named you as its requester.</p>
</body></html>
`))

// oneLine keeps a value on one line, so a name cannot break a header or the
// plain-text layout.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// renderMail returns the subject and the plain-text and HTML bodies of a
// project setup mail.
func renderMail(ev ingest.SetupEvent) (subject, text, html string, err error) {
	d := mailData{
		Org:            oneLine(ev.OrgName),
		Product:        oneLine(ev.ProductName),
		Project:        oneLine(ev.ProjectName),
		Libraries:      ev.Libraries,
		RequestToken:   oneLine(ev.RequestToken),
		RequesterEmail: oneLine(ev.RequesterEmail),
		Time:           ev.FinishedAt.UTC().Format(time.DateTime + " MST"),
	}
	subject = "Project setup completed: " + d.Org + " / " + d.Product + " / " + d.Project
	var tb, hb strings.Builder
	if err := textMail.Execute(&tb, d); err != nil {
		return "", "", "", fmt.Errorf("render mail text: %w", err)
	}
	if err := htmlMail.Execute(&hb, d); err != nil {
		return "", "", "", fmt.Errorf("render mail html: %w", err)
	}
	return subject, tb.String(), hb.String(), nil
}
