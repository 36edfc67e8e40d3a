package testenv_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/testenv"
)

// TestKafkaCluster starts a three-node cluster and checks what tests rely
// on: every node is a broker of one cluster, a topic with three replicas
// takes writes with a node dead, and a killed node comes back on its data
// and rejoins the in-sync replicas.
func TestKafkaCluster(t *testing.T) {
	k := testenv.StartKafka(t, 3)
	if got := len(k.Brokers()); got != 3 {
		t.Fatalf("Brokers() = %d addresses, want 3", got)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 60
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	client, err := sarama.NewClient(k.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if n := len(client.Brokers()); n != 3 {
		t.Fatalf("the cluster's metadata names %d brokers, want 3", n)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	minISR := "2"
	if err := admin.CreateTopic("t", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3,
		ConfigEntries: map[string]*string{"min.insync.replicas": &minISR}}, false); err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	send := func(v string) {
		t.Helper()
		if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "t", Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	send("before")

	leader, err := client.Leader("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	victim := int(leader.ID()) - 1
	if k.NodeID(victim) != leader.ID() {
		t.Fatalf("NodeID(%d) = %d, want %d", victim, k.NodeID(victim), leader.ID())
	}
	pid := k.Pid(victim)
	k.Kill(victim)
	if k.Pid(victim) != 0 {
		t.Fatalf("node %d still runs after Kill (pid %d)", victim, pid)
	}
	start := time.Now()
	send("after kill") // waits for a new leader: two replicas are min.insync.replicas
	t.Logf("leader node %d (pid %d) killed; the next write was acknowledged %s later", leader.ID(), pid, time.Since(start).Round(time.Millisecond))

	if err := k.Start(victim); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Minute, func() error {
		if err := client.RefreshMetadata("t"); err != nil {
			return err
		}
		isr, err := client.InSyncReplicas("t", 0)
		if err != nil {
			return err
		}
		if len(isr) != 3 {
			return fmt.Errorf("in-sync replicas %v, want all three", isr)
		}
		return nil
	})
	end, err := client.GetOffset("t", 0, sarama.OffsetNewest)
	if err != nil {
		t.Fatal(err)
	}
	if end != 2 {
		t.Fatalf("the topic holds %d records, want 2", end)
	}
	k.Stop(1)
	if k.Pid(1) != 0 {
		t.Fatal("node 1 still runs after Stop")
	}
}
