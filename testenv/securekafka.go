package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SecureListener is the SASL_SSL listener of a Kafka node StartSecureKafka
// starts: TLS with a certificate of the test's own CA, then SASL with
// SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, each knowing one user.
type SecureListener struct {
	// Addr is the listener's host:port.
	Addr string
	// CAFile is the PEM file of the CA that signed the broker's
	// certificate (for 127.0.0.1 and localhost).
	CAFile string
	// User and Password are the one user every mechanism knows.
	User, Password string

	keystore string // the broker's key and certificate chain, PEM
}

// StartSecureKafka starts a one-node Kafka cluster as StartKafka does,
// whose node also listens for SASL_SSL on a free loopback port (its
// PLAINTEXT listener stays, for the test's own set-up). SCRAM credentials
// are written at format time (StorageTool --add-scram), PLAIN's in the
// listener's JAAS settings. The node is killed when the test ends.
func StartSecureKafka(t testing.TB) (*Kafka, *SecureListener) {
	t.Helper()
	dir := t.TempDir()
	sec := &SecureListener{Addr: FreeAddr(t), User: "catalog", Password: "pw-" + newClusterID()}
	pki := WritePKI(t, dir)
	sec.CAFile, sec.keystore = pki.CAFile, pki.Bundle
	k := newKafka(t, 1, filepath.Join(dir, "kafka"), sec)
	if err := k.StartAll(); err != nil {
		t.Fatal(err)
	}
	return k, sec
}

// properties are the lines appended to a node's server.properties; Java
// properties keep the last value of a key, so they replace the template's
// listeners.
func (s *SecureListener) properties(nd *kafkaNode) string {
	return fmt.Sprintf(`
listeners=PLAINTEXT://%[1]s,CONTROLLER://%[2]s,SASL_SSL://%[3]s
advertised.listeners=PLAINTEXT://%[1]s,SASL_SSL://%[3]s
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_%[4]s="%[5]s";
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=%[6]s
`, nd.addr, nd.controller, s.Addr, s.User, s.Password, s.keystore)
}

// scramArgs are StorageTool format's arguments that store the user's
// SCRAM credentials.
func (s *SecureListener) scramArgs() []string {
	var args []string
	for _, m := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
		args = append(args, "--add-scram", fmt.Sprintf("%s=[name=%s,password=%s]", m, s.User, s.Password))
	}
	return args
}

// PKI is a CA of a test's own and a server certificate it signed for
// 127.0.0.1 and localhost, as PEM files.
type PKI struct {
	// CAFile is the CA's certificate.
	CAFile string
	// CertFile and KeyFile are the server's certificate and its
	// unencrypted PKCS#8 key (Redis's --tls-cert-file, --tls-key-file).
	CertFile, KeyFile string
	// Bundle is the key followed by the certificate chain in one file, the
	// form Kafka's PEM key store reads.
	Bundle string
}

// WritePKI writes a new CA and a server certificate signed by it under
// dir, valid for a day.
func WritePKI(t testing.TB, dir string) PKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "catalog test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kafka"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := PKI{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "server.pem"),
		KeyFile: filepath.Join(dir, "server-key.pem"), Bundle: filepath.Join(dir, "server-bundle.pem")}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	for path, b := range map[string][]byte{p.CAFile: caPEM, p.CertFile: certPEM, p.KeyFile: keyPEM,
		p.Bundle: append(append(append([]byte(nil), keyPEM...), certPEM...), caPEM...)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}
