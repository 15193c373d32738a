a = 10


def SayHello(xixi):
    return xixi + "haha"
