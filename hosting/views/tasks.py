from django.http import HttpRequest, HttpResponse
from django.contrib.auth.decorators import login_required


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    return HttpResponse("tasks")


@login_required
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    return HttpResponse("task")
