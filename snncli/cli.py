def main():
    print("snncli 0.1.0")
