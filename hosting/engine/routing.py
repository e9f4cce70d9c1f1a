"""Which queue this process serves (DESIGN §4.11). django-q2 reads Q_CLUSTER_NAME when it
loads its configuration; settings set the same name from HARBORMASTER_QUEUE."""
from __future__ import annotations


def cluster_queue() -> str:
    from django_q.conf import Conf

    return str(Conf.CLUSTER_NAME)


def orm_broker() -> bool:
    from django_q.conf import Conf

    return bool(Conf.ORM) and not Conf.BROKER_CLASS
