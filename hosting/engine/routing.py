"""Which queue this process serves, and which broker carries its messages (DESIGN §4.11).
django-q2 reads Q_CLUSTER_NAME when it loads its configuration; settings set the same name from
HARBORMASTER_QUEUE."""
from __future__ import annotations


def cluster_queue() -> str:
    from django_q.conf import Conf

    return str(Conf.CLUSTER_NAME)


# The ORM broker settings name when no Redis is configured (hosting.engine.broker).
ORM_BROKER = "hosting.engine.broker.ORM"


def orm_broker() -> bool:
    from django_q.conf import Conf

    return bool(Conf.ORM) and Conf.BROKER_CLASS in (None, "", ORM_BROKER)


def redis_broker() -> bool:
    """django-q2's default broker: what it uses when no other one is configured."""
    from django_q.conf import Conf

    return not (Conf.BROKER_CLASS or Conf.IRON_MQ or isinstance(Conf.SQS, dict) or Conf.ORM or Conf.MONGO)


def redis_list(queue: str):  # -> (redis connection, list key)
    """The Redis connection and list django-q2's Redis broker keeps QUEUE's messages in (RPUSH on
    enqueue, BLPOP by the cluster's pusher: a fetched message leaves the list)."""
    from django_q.brokers import redis_broker as module

    broker = module.Redis(list_key=queue)
    return broker.connection, broker.list_key
