// Package check validates herd's Kubernetes manifest (../herd.yaml)
// against the Kubernetes API's own types: see its test. It is a module of
// its own, so that herd's module does not carry Kubernetes's
// dependencies.
package check
