"""The routes of ``unibind serve``, one router per module; ``create_app`` includes them all."""
