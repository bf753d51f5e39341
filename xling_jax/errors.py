"""An error the user can fix; the CLI prints its message alone, without a traceback."""


class UserError(Exception):
    pass
