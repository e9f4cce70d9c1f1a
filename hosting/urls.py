from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from hosting.views import dashboard, tasks

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(template_name="auth/login.html", redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/<int:task_id>/", tasks.task_detail, name="task-detail"),
    path("admin/", admin.site.urls),
]
