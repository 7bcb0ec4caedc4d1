package apicheck_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/omniq/omniq/internal/apicheck"
	"github.com/omniq/omniq/server"
)

func TestNewRefusesAnInvalidDocument(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":          `{`,
		"no info, no paths": `{"openapi":"3.0.3"}`,
	} {
		if _, err := apicheck.New([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// The checker refuses an answer the document does not allow, and a success
// answered to a request the document refuses; it passes a good exchange.
func TestCheckCatchesMismatches(t *testing.T) {
	c := apicheck.Must(t, server.OpenAPIDocument())
	get := httptest.NewRequest("GET", "/v1/tasks/a", nil)
	json := http.Header{"Content-Type": {"application/json"}}
	for name, body := range map[string]string{
		"a task without its state": `{"id":"a","func":"f","queue_name":"default","priority":0,"retries":0,"attempt":0}`,
		"an unknown state":         `{"id":"a","func":"f","queue_name":"default","priority":0,"retries":0,"state":"lost","attempt":0}`,
	} {
		if c.Check(get, nil, 200, json, []byte(body)) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := c.Check(get, nil, 418, json, []byte(`{}`)); err == nil {
		t.Error("an undocumented status: accepted")
	}
	post := httptest.NewRequest("POST", "/v1/tasks", nil)
	task := `{"id":"a","func":"f","queue_name":"default","priority":0,"retries":0,"state":"pending","attempt":0}`
	if err := c.Check(post, []byte(`{"func":"f","bogus":1}`), 201, json, []byte(task)); err == nil {
		t.Error("201 to a request with an unknown field: accepted")
	}
	if err := c.Check(post, []byte(`{"func":"f"}`), 201, json, []byte(task)); err != nil {
		t.Errorf("a good exchange: %v", err)
	}
	if err := c.Check(httptest.NewRequest("GET", "/nowhere", nil), nil, 404, nil, nil); err != nil {
		t.Errorf("a route the document does not list: %v", err)
	}
}

// Handler (through Serve) and Transport each report a bad answer once.
func TestServeAndTransportReport(t *testing.T) {
	c := apicheck.Must(t, server.OpenAPIDocument())
	apicheck.ExpectReports(t, c.Serve, c.Transport)
}

// A good answer passes both sides.
func TestGoodAnswerPasses(t *testing.T) {
	c := apicheck.Must(t, server.OpenAPIDocument())
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok","version":"devel"}`+"\n")
	})
	srv := &apicheck.Recorder{TB: t}
	cl := &apicheck.Recorder{TB: t}
	hc := &http.Client{Transport: c.Transport(cl)}
	resp, err := hc.Get(c.Serve(srv, ok) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if errs := append(srv.Errors(), cl.Errors()...); len(errs) != 0 {
		t.Errorf("a good answer was reported: %q", errs)
	}
}
