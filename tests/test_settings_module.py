from django.conf import settings


def test_the_suite_runs_on_the_real_services_not_the_embedded_mode():
    # `make test` once ran everything on SQLite because an exported DJANGO_SETTINGS_MODULE won.
    assert settings.SETTINGS_MODULE == "gateway_project.settings.test"
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings.CACHES["default"]["BACKEND"] == "django_redis.cache.RedisCache"
    assert not settings.EMBEDDED_MODE
