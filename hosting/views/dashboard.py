from django.http import HttpRequest, HttpResponse
from django.contrib.auth.decorators import login_required


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Harbormaster")
