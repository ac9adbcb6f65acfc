// Package manifests checks the Kubernetes manifests Keycard ships
// (deploy/kubernetes): each document decodes strictly into the
// Kubernetes API type of its kind, and the sidecar's Deployment has the
// probes, secrets and hardening the docs promise. It has no code of its
// own: the manifests are data, and this package is where their test
// lives.
package manifests
