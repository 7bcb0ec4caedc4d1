// Package queue is the vocabulary every OmniQ queue speaks: Task and
// Schedule, the task states, the handler and worker options, Stats, the
// history event view, the sentinel errors, the limits on names, and Queue,
// the whole interface that the embedded engine (package engine) and the
// omniqd client (package client) both implement.
//
// It is a leaf: it imports only the standard library, so a program that
// talks to omniqd links none of the engine's machinery. Package engine
// re-exports every name here, so embedded programs need not import it.
package queue
