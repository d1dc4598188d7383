"""The operator roles as Django groups: support, finance, operators. Their permissions are set by
``audit.roles.roles_sync`` after every migration (permissions only exist once every app has
migrated); this migration makes the groups exist from the start."""

from django.db import migrations

ROLES = ("support", "finance", "operators")


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=name)


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(forwards, backwards)]
