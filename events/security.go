package events

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// The SASL mechanisms catalog speaks to Kafka with.
const (
	SASLPlain       = sarama.SASLTypePlaintext // PLAIN: the password travels as is, so only over TLS
	SASLScramSHA256 = sarama.SASLTypeSCRAMSHA256
	SASLScramSHA512 = sarama.SASLTypeSCRAMSHA512
)

// SASL is how catalog authenticates to Kafka: a mechanism (SASLPlain,
// SASLScramSHA256 or SASLScramSHA512; empty for none) and its credentials.
type SASL struct {
	Mechanism string
	User      string
	Password  string
}

// validate reports a mechanism catalog does not speak or missing
// credentials.
func (s SASL) validate() error {
	switch s.Mechanism {
	case "":
		return nil
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		return fmt.Errorf("kafka: SASL mechanism %q: want %s, %s or %s", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	if s.User == "" || s.Password == "" {
		return errors.New("kafka: SASL needs a user and a password")
	}
	return nil
}

// Secure sets sc's connection security from c: TLS when c.TLS is set, SASL
// when c.SASL names a mechanism. Every sarama configuration catalog builds
// goes through it (SaramaConfig does, and callers that start from
// watermill's defaults call it).
func (c KafkaConfig) Secure(sc *sarama.Config) {
	if c.TLS != nil {
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = c.TLS
	}
	if c.SASL.Mechanism == "" {
		return
	}
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.Mechanism = sarama.SASLMechanism(c.SASL.Mechanism)
	sc.Net.SASL.User = c.SASL.User
	sc.Net.SASL.Password = c.SASL.Password
	switch c.SASL.Mechanism {
	case SASLScramSHA256:
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
	case SASLScramSHA512:
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
	}
}

// scramClient is the SCRAM conversation sarama asks its user to supply
// (sarama.SCRAMClient): sarama carries the SASL frames, xdg-go/scram (the
// implementation sarama's own examples use) computes the proofs. The
// adapter is the three methods sarama calls.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	client, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("kafka SCRAM: %w", err)
	}
	s.conv = client.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *scramClient) Done() bool { return s.conv.Done() }
