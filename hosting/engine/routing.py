"""Which queue this process serves, and which broker carries its messages (DESIGN §4.11).
django-q2 reads Q_CLUSTER_NAME when it loads its configuration; settings set the same name from
HARBORMASTER_QUEUE."""
from __future__ import annotations


def cluster_queue() -> str:
    from django_q.conf import Conf

    return str(Conf.CLUSTER_NAME)


# The brokers settings name (hosting.engine.broker): ORM without REDIS_URL, Redis with it.
ORM_BROKER = "hosting.engine.broker.ORM"
REDIS_BROKER = "hosting.engine.broker.Redis"


def orm_broker() -> bool:
    from django_q.conf import Conf

    return bool(Conf.ORM) and Conf.BROKER_CLASS in (None, "", ORM_BROKER)


def redis_broker() -> bool:
    """Ours (namespaced by the instance key), or django-q2's default broker: what it uses when
    no other one is configured."""
    from django_q.conf import Conf

    if Conf.BROKER_CLASS:
        return Conf.BROKER_CLASS == REDIS_BROKER
    return not (Conf.IRON_MQ or isinstance(Conf.SQS, dict) or Conf.ORM or Conf.MONGO)


def redis_list(queue: str):  # -> (redis connection, list key)
    """The Redis connection and list the configured Redis broker keeps QUEUE's messages in
    (RPUSH on enqueue, BLPOP by the cluster's pusher: a fetched message leaves the list)."""
    from django_q.brokers import get_broker

    broker = get_broker(queue)
    return broker.connection, broker.list_key
