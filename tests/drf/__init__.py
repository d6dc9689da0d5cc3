"""A Django REST framework project, and the tests of eventweave.contrib.drf against it."""
