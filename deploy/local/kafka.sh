#!/usr/bin/env bash
# Throwaway single-node Apache Kafka broker for the test suite.
#
#   kafka.sh fetch      download Kafka's jars from Maven Central (once; cached)
#   kafka.sh start      format fresh storage and start the broker (no-op if running)
#   kafka.sh restart    stop the broker and start it again on the SAME data
#                       (the integration tests use this to restart it under load)
#   kafka.sh stop       stop the broker and delete its data
#   kafka.sh status     exit 0 if the broker is running
#   kafka.sh bootstrap  print the bootstrap address, e.g. 127.0.0.1:59092
#
# Kafka 3.9.1 (Scala 2.13) in KRaft mode, one process that is both broker and
# controller. There is no tarball download: `fetch` has Maven resolve
# org.apache.kafka:kafka_2.13:3.9.1 plus its runtime dependencies and an SLF4J
# binding (slf4j-reload4j + reload4j, the log4j 1.x that Kafka 3.9 ships with)
# into ${SHOUYING_CACHE_DIR:-$HOME/.cache/shouying}/kafka-3.9.1/libs.
# Main classes: kafka.tools.StorageTool (format) and kafka.Kafka (server),
# both inside the kafka_2.13 jar.
#
# Environment (all optional):
#   SHOUYING_RUN_DIR            run-time state        (default /tmp/shouying-run)
#   SHOUYING_CACHE_DIR          jar cache             (default ~/.cache/shouying)
#   SHOUYING_KAFKA_PORT         PLAINTEXT listener    (default 59092)
#   CONTROLLER_PORT             KRaft controller port (default 59093)
#   SHOUYING_KAFKA_HEAP         JVM heap              (default 512m)
#   SHOUYING_KAFKA_START_TIMEOUT  seconds to wait for readiness (default 60)
#   SHOUYING_KAFKA_STOP_TIMEOUT   seconds between TERM and KILL  (default 30)
set -euo pipefail

KAFKA_VERSION=3.9.1
SCALA_VERSION=2.13
SLF4J_VERSION=1.7.36     # the slf4j-api version kafka_2.13:3.9.1 depends on
RELOAD4J_VERSION=1.2.25  # the log4j 1.x fork Kafka 3.9 ships in its tarball

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="${SHOUYING_RUN_DIR:-/tmp/shouying-run}"
CACHE_DIR="${SHOUYING_CACHE_DIR:-${HOME:-/root}/.cache/shouying}"
PORT="${SHOUYING_KAFKA_PORT:-59092}"
CONTROLLER_PORT="${CONTROLLER_PORT:-59093}"
HEAP="${SHOUYING_KAFKA_HEAP:-512m}"
START_TIMEOUT="${SHOUYING_KAFKA_START_TIMEOUT:-60}"
STOP_TIMEOUT="${SHOUYING_KAFKA_STOP_TIMEOUT:-30}"

LIBS="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
STAMP="$LIBS/.fetched"
KAFKA_DIR="$RUN_DIR/kafka"
DATA_DIR="$KAFKA_DIR/data"
LOG_DIR="$KAFKA_DIR/logs"
CONFIG="$KAFKA_DIR/server.properties"
LOG4J="$KAFKA_DIR/log4j.properties"
PID_FILE="$KAFKA_DIR/kafka.pid"

log() { echo "kafka.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The artifacts the cache must hold; the stamp records this line so a change
# here triggers a re-fetch.
ARTIFACTS="org.apache.kafka:kafka_$SCALA_VERSION:$KAFKA_VERSION \
org.slf4j:slf4j-reload4j:$SLF4J_VERSION ch.qos.reload4j:reload4j:$RELOAD4J_VERSION"

fetch() {
    if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$ARTIFACTS" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (run install-system.sh)"
    command -v java >/dev/null || die "java not found (run install-system.sh)"
    log "fetching Kafka $KAFKA_VERSION jars with Maven into $LIBS"
    local work deps="" art group artifact version
    work="$(mktemp -d)"
    for art in $ARTIFACTS; do
        IFS=: read -r group artifact version <<<"$art"
        deps+="<dependency><groupId>$group</groupId><artifactId>$artifact</artifactId>"
        deps+="<version>$version</version></dependency>"
    done
    cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.shouying</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>$deps</dependencies>
</project>
EOF
    # Copy into a scratch dir first so an interrupted fetch leaves no half cache.
    if ! (cd "$work" && mvn -q -B -Dstyle.color=never dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$work/libs" >"$work/mvn.log" 2>&1); then
        cat "$work/mvn.log" >&2
        rm -rf "$work"
        die "maven could not resolve Kafka $KAFKA_VERSION"
    fi
    if [[ ! -f "$work/libs/kafka_$SCALA_VERSION-$KAFKA_VERSION.jar" ]]; then
        rm -rf "$work"
        die "kafka_$SCALA_VERSION-$KAFKA_VERSION.jar missing after fetch"
    fi
    mkdir -p "$(dirname "$LIBS")"
    rm -rf "$LIBS"
    mv "$work/libs" "$LIBS"
    rm -rf "$work"
    echo "$ARTIFACTS" >"$STAMP"
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars"
}

# PID of our broker if it is running, else nothing (exit 1). The command line
# is checked so that a recycled PID never gets signalled.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" && -r "/proc/$pid/cmdline" ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $CONFIG" || return 1
    echo "$pid"
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

# A real metadata round trip through kafka-python, when the venv has it.
metadata_ok() {
    local py="$REPO_ROOT/.venv/bin/python"
    [[ -x "$py" ]] || return 0
    "$py" -c 'import kafka' 2>/dev/null || return 0
    "$py" - "127.0.0.1:$PORT" <<'EOF' 2>/dev/null
import sys
from kafka import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=5000)
try:
    admin.list_topics()
    assert admin.describe_cluster()["brokers"], "no broker registered yet"
finally:
    admin.close()
EOF
}

write_config() {
    cat >"$CONFIG" <<EOF
# Generated by deploy/local/kafka.sh - throwaway single-node KRaft broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=6
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
EOF
    cat >"$LOG4J" <<EOF
# Generated by deploy/local/kafka.sh - everything goes to $LOG_DIR/server.log
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$LOG_DIR/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
EOF
}

# JVM options: the GC settings of Kafka's own kafka-run-class.sh, smaller heap.
JAVA_OPTS=(
    "-Xmx$HEAP" "-Xms$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -Djava.awt.headless=true
    "-Dlog4j.configuration=file:$LOG4J" "-Dkafka.logs.dir=$LOG_DIR"
    -cp "$LIBS/*"
)

format_storage() {
    local cluster_id
    # A Kafka UUID: 16 random bytes, URL-safe base64 without padding, not
    # starting with '-' (Kafka avoids that so it never looks like an option).
    cluster_id="$(python3 -c '
import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break
')"
    rm -rf "$DATA_DIR"
    java "${JAVA_OPTS[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONFIG" \
        >"$LOG_DIR/format.log" 2>&1 \
        || { cat "$LOG_DIR/format.log" >&2; die "storage format failed"; }
}

# start_broker fresh|keep
start_broker() {
    local mode="$1" pid
    if pid="$(running_pid)"; then
        log "already running (pid $pid) on 127.0.0.1:$PORT"
        return 0
    fi
    fetch
    command -v java >/dev/null || die "java not found (run install-system.sh)"
    if port_open; then
        die "port $PORT is already taken by another process"
    fi
    mkdir -p "$KAFKA_DIR" "$LOG_DIR"
    if [[ "$mode" == fresh || ! -f "$DATA_DIR/meta.properties" ]]; then
        rm -f "$LOG_DIR"/*.log
        write_config
        format_storage
    fi
    local t0=$SECONDS
    # java itself is the background job, so $! is the broker's own PID.
    nohup java "${JAVA_OPTS[@]}" kafka.Kafka "$CONFIG" \
        >>"$LOG_DIR/stdout.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"

    while ! { port_open && metadata_ok; }; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$LOG_DIR/stdout.log" "$LOG_DIR/server.log" >&2 || true
            rm -f "$PID_FILE"
            die "broker exited during start-up (logs in $LOG_DIR)"
        fi
        if ((SECONDS - t0 >= START_TIMEOUT)); then
            tail -n 40 "$LOG_DIR/server.log" >&2 || true
            stop_broker
            die "broker not ready after ${START_TIMEOUT}s (logs in $LOG_DIR)"
        fi
        sleep 0.5
    done
    log "started (pid $pid) on 127.0.0.1:$PORT in $((SECONDS - t0))s"
}

# Stop the process, keeping its data.
stop_broker() {
    local pid
    pid="$(running_pid)" || { rm -f "$PID_FILE"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= STOP_TIMEOUT * 10)); then
            log "broker ignored TERM for ${STOP_TIMEOUT}s; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$PID_FILE"
    log "stopped (pid $pid)"
}

case "${1:-}" in
    fetch) fetch ;;
    start) start_broker fresh ;;
    restart)
        stop_broker
        start_broker keep
        ;;
    stop)
        stop_broker
        rm -rf "$KAFKA_DIR"
        ;;
    status)
        if pid="$(running_pid)"; then echo "running (pid $pid)"; else
            echo "stopped"; exit 1; fi
        ;;
    bootstrap) echo "127.0.0.1:$PORT" ;;
    *)
        echo "usage: $0 fetch|start|restart|stop|status|bootstrap" >&2
        exit 2
        ;;
esac
