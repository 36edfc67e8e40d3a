// Package kubernetes holds catalog's Helm chart (catalog/), examples for
// the operators that run its services (examples/: Strimzi, CloudNativePG,
// a Redis operator) and, with the container build in
// deployments/container, the tests that check them offline: helm lint,
// helm template rendered and validated against the Kubernetes API's
// schemas, hadolint on the Dockerfile.
package kubernetes
