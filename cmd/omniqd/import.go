package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/omniq/omniq/engine/audit"
	"github.com/omniq/omniq/stores/storeurl"
)

func init() {
	commands["import"] = command{summary: "append JSON Lines written by export to an empty store",
		usage: "--store URL [--in FILE] [flags]", run: runImport}
}

// auditIn is where import reads without --in (tests replace it).
var auditIn io.Reader = os.Stdin

func runImport(ctx context.Context, args []string) error {
	fs := newFlagSet("import")
	store := auditStoreFlag(fs)
	in := fs.String("in", "", "read this file instead of stdin")
	batch := fs.Int("batch", 1000, "events per append")
	if err := auditParseFlags(fs, args); err != nil {
		return err
	}
	r, size := auditIn, uint64(0)
	if *in != "" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = uint64(fi.Size())
		}
		r = f
	}
	log, err := openAuditStore(ctx, *store, true)
	if err != nil {
		return err
	}
	defer log.Close()
	counted := &auditCountingReader{r: r}
	bar := newAuditProgress("import", true)
	n, err := audit.Import(ctx, log, counted, audit.ImportOptions{BatchSize: *batch, Progress: func(uint64) { bar.set(counted.n, size) }})
	bar.finish()
	if err != nil {
		if n > 0 {
			return fmt.Errorf("%w (%d events were appended before the failure; start again with an empty store)", err, n)
		}
		return err
	}
	fmt.Fprintf(auditOut, "imported %d events into %s\n", n, storeurl.Redact(*store))
	return nil
}
