"""The task engine (DESIGN.md §4): claims tasks with locks, runs their steps with heartbeats,
kills process trees, reaps the dead. It knows nothing of Drupal: task types live in
hosting/operations/ and reach provision/ from there."""
