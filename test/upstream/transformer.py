#!/usr/bin/python3
"""A transformer pilot that behaves on the wire as upstream's does, for the end-to-end tests.

Upstream's transformer is BNLNPPS/swf-transform (`bin/run_prompt`, `lib/swf_transform/prompt/`). This is a
rewrite from what its code does, not a copy, kept to what a run of this project can meet:

    PROMPT_TRANSFORM_CONF=prompt.conf /usr/bin/python3 transformer.py --namespace NS [--run_id N]

- bin/run_prompt: the arguments (`--run_id` parsed as an integer, `--namespace`, `--workdir`, which the
  payload never reads, `--idle_timeout` 600 s by default).
- conf.py, transformer.py `get_broker_info`: the broker settings come from the INI file PROMPT_TRANSFORM_CONF
  names (else ./prompt.conf): a [prompt] section with three JSON objects, `transformer_broker` (the slice
  queue), `transformer_broadcast_broker` (stop_transformer) and `result_broker` (results), each with
  destination, brokers ("host:port"), username, password, use_ssl, ssl_ca_certs and heartbeat_interval.
  Upstream asks PanDA/iDDS next; that look-up is left out. Passwords are never logged.
- brokers/activemq.py: one STOMP 1.1 connection per role, each with its own client-id, 30 s heart-beats
  and no content-length (the broker makes TextMessages); a subscriber connects again only when its
  connection is gone, the result publisher also after a failure or an hour; subscriptions with `activemq.prefetchSize: 1`,
  `ack: client-individual` and the selector `namespace='<ns>' AND (<selector>)`; slices handled one at a
  time in a worker thread, each acked after its handler returned (which published its result, without
  waiting for a receipt: a result that fails to publish is logged and the slice acked all the same);
  not acked if the subscription was re-made meanwhile (the broker redelivers); nacked if the handler
  raised. A liveness `heartbeat` (msg_type "heartbeat", not persistent) goes to each role's own
  destination every heartbeat_interval seconds (30 by default), the slice queue included. Results carry
  the headers persistent, ttl, vo, msg_type, run_id, client-id, namespace.
- transformer.py: without a run id it takes every slice of its namespace, and the first slice's run_id
  narrows the selector to `run_id = '<run>'` (unsubscribe, subscribe again: that first slice is then not
  acked and comes back, so it is processed twice); stop_transformer counts only when its run_id equals the
  transformer's (a string from a slice; an integer from --run_id never equals the string a message carries);
  it exits after 5 s without a slice once stopped, or after idle_timeout without one. The result is
  `{msg_type: slice_result, run_id, created_at, content: {requested_at: <the slice's created_at as
  received>, processing_start_at, processed_at, state: done|failed, hostname, panda_*, harvester_id,
  result: {state, result, error}}}`, timestamps as naive `utcnow().isoformat()`. It sends no
  transformer_start, transformer_heartbeat or transformer_end.
- payload_process.py, utils.py: file_type "fake" or "mock" sleeps slice_processing_time (30 s when
  missing or invalid) and echoes the slice content with processed, actual_processing_time, output_file,
  output_filename and state "processed"; any other slice runs the reconstruction wrapper (here
  eicrecon_process.sh beside this file, or in $SWF_TRANSFORM_WRAPPER), which needs singularity and
  eicrecon: without them it exits 127 and the result is a failure with no slice identity at all.
  `processor_type: zeromq` (upstream's persistent eicrecon) is not reproduced.
"""

import argparse
import configparser
import datetime
import json
import logging
import os
import queue
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import stomp

ROLES = ("transformer_broker", "transformer_broadcast_broker", "result_broker")
SECRET_KEYS = ("password", "pass", "passwd", "secret", "token")
HERE = os.path.dirname(os.path.abspath(__file__))
WRAPPER = "eicrecon_process.sh"
TTL_MS = 12 * 3600 * 1000
STOMP_HEARTBEATS = (30000, 30000)


def utc_iso():
    """`datetime.utcnow().isoformat()` as upstream writes it: naive, microseconds left out when zero."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None).isoformat()


def masked(value):
    if isinstance(value, dict):
        return {
            k: "***" if any(s in k.lower() for s in SECRET_KEYS) else masked(v) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(masked(v) for v in value)
    return value


def load_broker_settings(path):
    parser = configparser.ConfigParser()
    if not parser.read(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    if "prompt" not in parser:
        raise ValueError(f"No broker configuration found in {path}")
    section = parser["prompt"]
    settings = {role: json.loads(section[role]) for role in ROLES if role in section}
    missing = [role for role in ROLES if role not in settings]
    if missing:
        raise ValueError(f"{path}: [prompt] lacks {', '.join(missing)}")
    return settings


class Endpoint:
    """One role's connection, with its own client-id."""

    def __init__(self, name, settings, namespace):
        self.name = name
        self.settings = settings
        self.destination = settings["destination"]
        self.namespace = namespace
        self.log = logging.getLogger(name)
        host = socket.getfqdn().split(".")[0]
        self.client_id = f"{namespace}.{name}.{host}.{uuid.uuid4().hex[:8]}"
        self.conn = None
        self.stopping = threading.Event()
        interval = int(settings.get("heartbeat_interval", 30))
        self._pulse = threading.Thread(
            target=self._pulse_loop, args=(interval,), name=f"{name}-heartbeat", daemon=True
        )
        self._pulse.start()

    def _address(self):
        brokers = self.settings["brokers"]
        if not isinstance(brokers, (list, tuple)):
            brokers = brokers.split(",")
        host, port = random.choice(brokers).strip().rsplit(":", 1)
        return host, int(port)

    def _new_connection(self):
        host, port = self._address()
        conn = stomp.Connection(
            host_and_ports=[(host, port)],
            vhost=host,
            try_loopback_connect=False,
            auto_content_length=False,
            heartbeats=STOMP_HEARTBEATS,
        )
        if self.settings.get("use_ssl"):
            ca = self.settings.get("ssl_ca_certs") or os.environ.get("ARTEMIS_SSL_CA_CERTS")
            conn.transport.set_ssl(for_hosts=[(host, port)], ca_certs=ca or None)
        self.log.info("Connection to %s:%s (ssl: %s)", host, port, bool(self.settings.get("use_ssl")))
        return conn

    def _connect(self, conn):
        conn.connect(
            self.settings["username"],
            self.settings["password"],
            wait=True,
            version="1.1",
            headers={"client-id": self.client_id, "heart-beat": "30000,30000"},
        )

    def _pulse_loop(self, interval):
        # Upstream's liveness message: to this role's own destination, only on an established connection.
        while not self.stopping.wait(interval):
            conn = self.conn
            if conn is None or not conn.is_connected():
                continue
            body = {
                "msg_type": "heartbeat",
                "internal_id": self.client_id,
                "namespace": self.namespace,
                "timestamp": time.time(),
            }
            headers = {
                "persistent": "false",
                "vo": "eic",
                "msg_type": "heartbeat",
                "namespace": self.namespace or "",
                "client-id": self.client_id,
            }
            try:
                conn.send(
                    destination=self.destination,
                    body=json.dumps(body),
                    id=self.client_id,
                    ack="auto",
                    headers=headers,
                )
            except Exception as error:
                self.log.warning("failed to send heartbeat: %s", error)

    def _disconnect(self):
        conn, self.conn = self.conn, None
        try:
            if conn is not None and conn.is_connected():
                conn.disconnect()
        except Exception:
            pass

    def stop(self):
        self.stopping.set()
        self._pulse.join(timeout=5)
        self._disconnect()


class Publisher(Endpoint):
    LIFETIME = 3600

    def __init__(self, name, settings, namespace):
        super().__init__(name, settings, namespace)
        self.made_at = None
        self.failed = False

    def monitor(self):
        # As upstream: the connection is made here and opened by the first publish.
        if self.conn is None or self.failed or self.made_at + self.LIFETIME < time.time():
            self._disconnect()
            self.conn = self._new_connection()
            self.made_at = time.time()
            self.failed = False

    def _connected(self):
        for attempt in (1, 2):
            try:
                if self.conn is None or attempt == 2:
                    self._disconnect()
                    self.conn = self._new_connection()
                    self.made_at = time.time()
                if not self.conn.is_connected():
                    self._connect(self.conn)
                return self.conn
            except Exception as error:
                self.log.error("Failed to connect to message broker: %s", error)
        self.failed = True
        return None

    def publish(self, msg):
        msg_type = msg.get("msg_type", "unknown")
        run_id = msg.get("run_id", "unknown")
        conn = self._connected()
        if conn is None:
            self.log.error("No connection to send msg_type=%s, run_id=%s", msg_type, run_id)
            return
        headers = {
            "persistent": "true",
            "ttl": TTL_MS,
            "vo": "eic",
            "msg_type": str(msg_type).lower(),
            "run_id": run_id,
            "client-id": self.client_id,
        }
        if self.namespace is not None:
            headers["namespace"] = self.namespace
        try:
            conn.send(
                body=json.dumps(msg),
                destination=self.destination,
                id=self.client_id,
                ack="auto",
                headers=headers,
            )
        except Exception as error:
            self.log.error("Failed to publish msg_type=%s, run_id=%s: %s", msg_type, run_id, error)


class Listener(stomp.ConnectionListener):
    def __init__(self, subscriber, conn):
        self.subscriber = subscriber
        self.conn = conn

    def on_error(self, frame):
        self.subscriber.log.error("broker error: headers: %s, body: %s", frame.headers, frame.body)

    def on_disconnected(self):
        sub = self.subscriber
        sub.log.warning("STOMP connection disconnected")
        if sub.stopping.is_set() or self.conn is not sub.conn:
            return
        # Slices received on the lost connection cannot be acked on another: the broker redelivers them.
        sub.drop_inbox()
        sub.busy = False

    def on_heartbeat_timeout(self):
        self.subscriber.log.warning("STOMP heartbeat timeout")

    def on_message(self, frame):
        sub = self.subscriber
        sub.log.info("received message: headers: %s, body: %s", frame.headers, frame.body)
        sub.busy = True
        item = (self.conn, frame, sub.generation)
        if sub.inbox is None:
            sub.process(*item)
        else:
            sub.inbox.put(item)


class Subscriber(Endpoint):
    def __init__(self, name, settings, namespace, handler, selector=None, threaded=False):
        super().__init__(name, settings, namespace)
        self.handler = handler
        self.selector = selector
        self.last_message_at = time.time()
        self.busy = False
        self.generation = 0
        self.inbox = queue.Queue() if threaded else None
        if threaded:
            threading.Thread(target=self._work, name=f"{name}Worker", daemon=True).start()

    def full_selector(self):
        if self.namespace is None:
            return self.selector
        if self.selector:
            return f"namespace='{self.namespace}' AND ({self.selector})"
        return f"namespace='{self.namespace}'"

    def monitor(self):
        # As upstream's: neither a failed handler nor the lifetime makes a connected subscriber connect again.
        if self.stopping.is_set() or (self.conn is not None and self.conn.is_connected()):
            return
        try:
            self._disconnect()
            conn = self._new_connection()
            conn.set_listener("message-receiver", Listener(self, conn))
            self._connect(conn)
            self.conn = conn
            self._subscribe(conn)
        except Exception as error:
            self.log.error("Setting up the subscription failed: %s", error)

    def _subscribe(self, conn):
        selector = self.full_selector()
        headers = {
            "subscription-name": self.client_id,
            "durable": False,
            "activemq.prefetchSize": "1",
        }
        if selector:
            headers["selector"] = selector
        # Counted before subscribing: the broker may hand the new subscription a slice before subscribe returns,
        # and that slice must be acked as the new subscription's.
        self.generation += 1
        conn.subscribe(destination=self.destination, id=self.client_id, ack="client-individual", headers=headers)
        self.log.info("Subscribed to %s with selector: %s, ack mode: client-individual", self.destination, selector)

    def narrow(self, selector):
        """Takes a new selector at once: unsubscribes and subscribes again on the open connection."""
        self.selector = selector
        conn = self.conn
        try:
            if conn is not None and conn.is_connected():
                conn.unsubscribe(id=self.client_id)
                self._subscribe(conn)
        except Exception:
            self.log.exception("failed to subscribe again with selector: %s", selector)

    def _work(self):
        while not self.stopping.is_set():
            try:
                item = self.inbox.get(timeout=1)
            except queue.Empty:
                continue
            try:
                self.process(*item)
            finally:
                self.inbox.task_done()

    def drop_inbox(self):
        if self.inbox is None:
            return
        while True:
            try:
                self.inbox.get_nowait()
            except queue.Empty:
                return
            self.inbox.task_done()

    def process(self, conn, frame, generation):
        headers = frame.headers
        message_id = headers.get("message-id")
        subscription = headers.get("subscription") or self.client_id
        try:
            self.handler(headers, json.loads(frame.body))
            if headers.get("ack") == "auto":
                self.log.info("message %s has ack: auto, no explicit ack", message_id)
            elif generation != self.generation:
                self.log.warning("subscription re-made while handling %s: not acked, the broker redelivers", message_id)
            else:
                conn.ack(headers.get("ack") or message_id, subscription)
                self.log.info("message %s acknowledged", message_id)
        except Exception:
            self.log.exception("failed to handle message %s", message_id)
            if headers.get("ack") != "auto":
                try:
                    conn.nack(headers.get("ack") or message_id, subscription)
                except Exception:
                    self.log.exception("nack failed")
        self.last_message_at = time.time()
        self.busy = False

    def idle_for(self, seconds):
        return not self.busy and time.time() - self.last_message_at > seconds


def output_name(payload, run_id, start, end):
    """`<TF file (else STF file) stem>_run_<run>_slice_<id>_s<start>_e<end>.edm4eic.root`, as upstream names it."""
    names = [payload.get("tf_filename"), payload.get("filename")]
    base = next((os.path.splitext(os.path.basename(n))[0] for n in names if n), "unknown")
    return f"{base}_run_{run_id}_slice_{payload.get('slice_id', 0)}_s{start}_e{end}.edm4eic.root"


def fake_payload(payload):
    log = logging.getLogger("PayloadProcessor")
    wait = payload.get("slice_processing_time", 30)
    try:
        wait = float(wait)
        if wait < 0:
            raise ValueError("slice_processing_time must be non-negative")
    except (TypeError, ValueError):
        log.warning("Invalid slice_processing_time %s, using default 30 seconds", wait)
        wait = 30
    run_id = payload.get("run_id", "unknown")
    output_filename = output_name(payload, run_id, payload.get("start", 0), payload.get("end", 0))
    output_file = None
    if payload.get("dest_path"):
        folder = os.path.join(payload["dest_path"], str(run_id))
        os.makedirs(folder, exist_ok=True)
        output_file = os.path.join(folder, output_filename)
    started = time.time()
    time.sleep(wait)
    elapsed = time.time() - started
    if output_file:
        try:
            open(output_file, "wb").close()
        except OSError as error:
            log.warning("Could not create output file %s: %s", output_file, error)
    echo = dict(payload)
    echo.update(
        processed=True,
        actual_processing_time=elapsed,
        output_file=output_file,
        output_filename=output_filename,
        state="processed",
    )
    return True, echo, None


def reconstruction_plan(payload):
    """The fields the reconstruction needs, or the error upstream's validation gives."""
    filename = payload.get("filename")
    start, end = payload.get("start"), payload.get("end")
    if not filename:
        return None, "Missing 'filename' in payload"
    if start is None or end is None:
        return None, "Missing 'start' or 'end' in payload"
    try:
        start, end = int(start), int(end)
    except (TypeError, ValueError) as error:
        return None, f"Invalid 'start' or 'end' values: {error}"
    if end < start:
        return None, f"'end' ({end}) must be >= 'start' ({start})"
    campaign = re.search(r"/FULL/(\d+\.\d+\.\d+)/", filename)
    version = payload.get("epic_version") or (campaign.group(1) if campaign else "26.03.0")
    workdir = os.environ.get("WORKDIR") or payload.get("workdir") or os.getcwd()
    os.makedirs(workdir, exist_ok=True)
    output_filename = output_name(payload, payload.get("run_id", "unknown"), start, end)
    try:
        timeout = int(os.environ.get("EICRECON_TIMEOUT", "3600"))
    except ValueError:
        timeout = 3600
    return {
        "filename": filename,
        "run_id": payload.get("run_id", "unknown"),
        "version": version,
        "nevents": end - start + 1,
        "nskip": start,
        "workdir": workdir,
        "output_filename": output_filename,
        "output_file": os.path.join(workdir, output_filename),
        "timeout": timeout,
    }, None


def wrapper_path():
    folder = os.environ.get("SWF_TRANSFORM_WRAPPER")
    if folder and os.path.exists(os.path.join(folder, WRAPPER)):
        return os.path.join(folder, WRAPPER)
    return os.path.join(HERE, WRAPPER)


def reconstruction_payload(payload):
    log = logging.getLogger("PayloadProcessor")
    plan, error = reconstruction_plan(payload)
    if error:
        return False, None, error
    try:
        with open(wrapper_path()) as fh:
            script = fh.read()
    except OSError as error:
        return False, None, f"Cannot read eicrecon script template: {error}"
    for placeholder, value in (
        ("{EPIC_VERSION}", plan["version"]),
        ("{INPUT_FILE}", plan["filename"]),
        ("{OUTPUT_FILE}", plan["output_file"]),
        ("{NEVENTS}", str(plan["nevents"])),
        ("{NSKIP}", str(plan["nskip"])),
    ):
        script = script.replace(placeholder, value)
    script_path = None
    try:
        with tempfile.NamedTemporaryFile(
            mode="w", suffix=".sh", delete=False, prefix="eicrecon_", dir=plan["workdir"]
        ) as fh:
            fh.write(script)
            script_path = fh.name
        os.chmod(script_path, 0o755)
        started = time.time()
        proc = subprocess.run(
            ["/bin/bash", script_path], capture_output=True, text=True, timeout=plan["timeout"]
        )
        elapsed = time.time() - started
        log.info("eicrecon finished in %.1fs, returncode=%s", elapsed, proc.returncode)
        if proc.returncode != 0:
            return (
                False,
                None,
                f"eicrecon exited with returncode={proc.returncode}. stderr (last 500 chars): {proc.stderr[-500:]}",
            )
        output_file = plan["output_file"]
        if payload.get("dest_path"):
            folder = os.path.join(payload["dest_path"], str(plan["run_id"]))
            os.makedirs(folder, exist_ok=True)
            output_file = os.path.join(folder, plan["output_filename"])
            try:
                shutil.copy2(plan["output_file"], output_file)
            except OSError as error:
                return False, None, f"Failed to copy output file to {output_file}: {error}"
        echo = dict(payload)
        echo.update(
            processed=True,
            actual_processing_time=elapsed,
            output_file=output_file,
            output_filename=plan["output_filename"],
            nevents_processed=plan["nevents"],
            epic_version=plan["version"],
            state="processed",
        )
        return True, echo, None
    except subprocess.TimeoutExpired:
        return False, None, f"eicrecon processing timed out after {plan['timeout']}s"
    except Exception as error:
        return False, None, f"Failed to run eicrecon: {error}"
    finally:
        if script_path and os.path.exists(script_path):
            os.unlink(script_path)


def process_payload(payload):
    if payload.get("file_type", "") in ("fake", "mock"):
        return fake_payload(payload)
    return reconstruction_payload(payload)


class Transformer:
    def __init__(self, brokers, run_id, namespace, idle_timeout):
        self.brokers = brokers
        self.run_id = run_id
        self.namespace = namespace
        self.idle_timeout = idle_timeout
        self.to_stop = False
        self.log = logging.getLogger("Transformer")
        self.results = None
        self.slices = None

    def on_broadcast(self, headers, msg):
        msg_type, run_id = msg.get("msg_type"), msg.get("run_id")
        if msg_type != "stop_transformer":
            self.log.warning("Unknown msg_type received in broadcast_handler: %s", msg_type)
        elif self.run_id and self.run_id == run_id:
            self.log.info("Received stop_transformer for run_id=%s, stopping transformer", run_id)
            self.to_stop = True
        else:
            self.log.info("Ignoring stop_transformer for run_id=%s, current run_id=%s", run_id, self.run_id)

    def on_slice(self, headers, msg):
        msg_type, run_id = msg.get("msg_type"), msg.get("run_id")
        if run_id and not self.run_id:
            self.slices.narrow(f"run_id = '{run_id}'")
            self.log.info("No run_id was pre-assigned; locking onto run_id=%s from the first message", run_id)
            self.run_id = run_id
        processing_start_at = utc_iso()
        status, result, error = False, None, None
        if msg_type == "slice":
            try:
                status, result, error = process_payload(msg.get("content") or {})
            except Exception as failure:
                error = str(failure)
                self.log.exception("Exception while processing payload for run_id=%s", run_id)
        else:
            self.log.warning("Unknown msg_type received in result_handler: %s", msg_type)
        answer = {
            "msg_type": "slice_result",
            "run_id": run_id,
            "created_at": utc_iso(),
            "content": {
                "requested_at": msg.get("created_at"),
                "processing_start_at": processing_start_at,
                "processed_at": utc_iso(),
                "state": "done" if status else "failed",
                "hostname": socket.getfqdn(),
                "panda_server_url": os.environ.get("PANDA_SERVER_URL"),
                "panda_task_id": os.environ.get("PanDA_TaskID"),
                "panda_id": os.environ.get("PANDAID"),
                "harvester_id": os.environ.get("HARVESTER_WORKER_ID"),
                "result": {"state": status, "result": result, "error": error},
            },
        }
        try:
            self.results.publish(answer)
            self.log.info("Published slice_result message for run_id=%s: %s", run_id, json.dumps(answer))
        except Exception:
            self.log.exception("Failed to publish slice_result")

    def run(self):
        self.log.info(
            "Starting transformer run loop, idle_timeout=%s, run_id=%s, namespace=%s",
            self.idle_timeout,
            self.run_id,
            self.namespace,
        )
        broadcast = Subscriber(
            "TFBroadcastSubscriber", self.brokers["transformer_broadcast_broker"], self.namespace, self.on_broadcast
        )
        self.results = Publisher("ResultPublisher", self.brokers["result_broker"], self.namespace)
        self.slices = Subscriber(
            "SliceSubscriber",
            self.brokers["transformer_broker"],
            self.namespace,
            self.on_slice,
            selector=f"run_id = '{self.run_id}'" if self.run_id is not None else None,
            threaded=True,
        )
        while True:
            if self.slices.idle_for(5) and self.to_stop:
                self.log.info("Stop requested and no slice for 5 seconds: stopping")
                break
            if self.slices.idle_for(self.idle_timeout):
                self.log.info("No slice for %s seconds: stopping", self.idle_timeout)
                break
            broadcast.monitor()
            self.slices.monitor()
            self.results.monitor()
            time.sleep(1)
        for endpoint in (self.slices, broadcast, self.results):
            endpoint.stop()
        self.log.info("Transformer loop exited")
        return 0


def setup_logging():
    level = os.environ.get("PROMPT_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "CRITICAL", "ERROR", "WARNING", "INFO"):
        level = "INFO"
    target = {"filename": os.environ["PROMPT_LOG_FILE"]} if os.environ.get("PROMPT_LOG_FILE") else {"stream": sys.stdout}
    logging.basicConfig(level=level, format="%(asctime)s\t%(threadName)s\t%(name)s\t%(levelname)s\t%(message)s", **target)
    logging.Formatter.converter = time.gmtime
    logging.getLogger("stomp").setLevel(logging.CRITICAL)


def main(argv):
    parser = argparse.ArgumentParser(prog=os.path.basename(sys.argv[0]))
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument("--run_id", type=int, default=None)
    parser.add_argument("--workdir", type=str, default=None)
    parser.add_argument("--namespace", type=str, default=None)
    parser.add_argument("--idle_timeout", type=int, default=600)
    args, _ = parser.parse_known_args(argv)
    setup_logging()
    if args.verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    conf = os.environ.get("PROMPT_TRANSFORM_CONF") or os.path.join(os.getcwd(), "prompt.conf")
    try:
        brokers = load_broker_settings(conf)
    except (OSError, ValueError) as error:
        logging.error("Broker settings: %s", error)
        return 1
    logging.info("Broker settings from %s: %s", conf, json.dumps(masked(brokers)))
    return Transformer(brokers, args.run_id, args.namespace, args.idle_timeout).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
